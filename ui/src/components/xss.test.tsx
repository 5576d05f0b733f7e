// User and upstream strings (provider names, model names, upstream error text) are rendered
// as text, never as HTML.
import { describe, expect, it } from "vitest";
import { render } from "@testing-library/react";
import { RequestDetail } from "./RequestDetail";
import { FlowView } from "./FlowView";
import { StatePill } from "./ui";
import { ToastProvider } from "./Toasts";
import type { RequestRecord } from "../api/types";

const EVIL = "<img src=x onerror=alert(1)>";

describe("untrusted strings render inertly", () => {
  it("in the request detail and attempt chain", () => {
    const r: RequestRecord = {
      id: "r1",
      started_at_ms: Date.now(),
      dialect: "openai_chat",
      alias: EVIL,
      provider: EVIL,
      upstream_model: `${EVIL}-model`,
      key_id: 1,
      status: 502,
      stream: true,
      latency_ms: 10,
      tokens_in: 1,
      tokens_out: 2,
      tokens_cached: 0,
      tokens_reasoning: 0,
      error: `upstream said ${EVIL}<script>alert(2)</script>`,
      attempts: [{ provider: EVIL, model: EVIL, key_id: 1, outcome: "upstream_error", status: 502, duration_ms: 5 }],
    };
    const { container } = render(
      <ToastProvider>
        <RequestDetail r={r} keys={[{ id: 1, provider: EVIL, label: EVIL, weight: 1, enabled: true, fingerprint: "abc", last4: "1234", state: "healthy", class: "healthy" }]} />
      </ToastProvider>,
    );
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("script")).toBeNull();
    expect(container.textContent).toContain(EVIL);
    expect(container.textContent).toContain("<script>alert(2)</script>");
  });

  it("in the flow view and pills", () => {
    const { container } = render(
      <>
        <FlowView plan={{ alias: EVIL, strategy: EVIL, inferred: false, steps: [{ provider: EVIL, model: EVIL, key_id: 1, key_label: EVIL, verdict: "skipped", reason: EVIL }] }} />
        <StatePill state={EVIL} />
      </>,
    );
    expect(container.querySelector("img")).toBeNull();
    expect(container.textContent).toContain(EVIL);
  });
});
