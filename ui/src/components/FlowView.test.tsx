import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import { FlowView } from "./FlowView";

describe("FlowView", () => {
  it("marks the first usable step and explains skipped ones", () => {
    const now = Date.now();
    render(
      <FlowView
        plan={{
          alias: "gpt-5.5",
          strategy: "priority",
          inferred: false,
          steps: [
            { provider: "deepseek", model: "deepseek-chat", key_id: 1, key_label: "a", verdict: "skipped", reason: "cooling", until_ms: now + 65_000 },
            { provider: "deepseek", model: "deepseek-chat", key_id: 2, key_label: "b", verdict: "would_try" },
            { provider: "mimo", model: "mimo-v2-pro", key_id: 3, key_label: "c", verdict: "would_try" },
            { provider: "off", model: "m", verdict: "skipped", reason: "provider_disabled" },
          ],
        }}
      />,
    );
    const steps = screen.getByTestId("flow-view").querySelectorAll(".flow-step");
    expect(steps).toHaveLength(4);
    expect(steps[0].getAttribute("data-verdict")).toBe("skipped");
    expect(steps[0].textContent).toMatch(/Skipped: cooling down · back in 1m 0[45]s/);
    expect(steps[1].classList.contains("first")).toBe(true);
    expect(within(steps[1] as HTMLElement).getByText("Tried first")).toBeTruthy();
    expect(steps[2].textContent).toContain("Next if the one before fails");
    expect(steps[3].textContent).toContain("provider disabled");
  });

  it("says when nothing is usable", () => {
    render(<FlowView plan={{ alias: "x", strategy: "priority", inferred: true, steps: [{ provider: "p", model: "m", key_id: 1, key_label: "k", verdict: "skipped", reason: "auth_error" }] }} />);
    expect(screen.getByRole("status").textContent).toContain("Nothing is usable right now");
    expect(screen.getByText("inferred")).toBeTruthy();
  });
});
