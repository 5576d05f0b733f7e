import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { KeyView } from "../api/types";
import { KeyQuota } from "./KeyQuota";

const base: KeyView = { id: 1, provider: "p", label: "main", weight: 1, enabled: true, fingerprint: "0123456789ab", last4: "abcd", state: "healthy", class: "healthy" };

describe("KeyQuota", () => {
  it("shows nothing for a key without announced quota or balance", () => {
    const { container } = render(<KeyQuota k={base} />);
    expect(container.innerHTML).toBe("");
  });

  it("draws a bar per window with what is left and a countdown to full, and the balance", () => {
    const now = Date.now();
    render(
      <KeyQuota
        k={{
          ...base,
          quota: [
            { model: "gpt", kind: "requests", limit: 60, remaining: 3, reset_ms: now + 57_000 },
            { model: "gpt", kind: "five_hour", limit: null, remaining: 75, reset_ms: now + 3_600_000 },
          ],
          balance: { amount: 0.5, currency: "USD", low: true, checked_ms: now },
        }}
      />,
    );
    const meters = screen.getAllByRole("meter");
    expect(meters).toHaveLength(2);
    expect(meters[0].getAttribute("aria-valuenow")).toBe("5");
    expect(meters[1].getAttribute("aria-valuenow")).toBe("75");
    expect(screen.getByText(/3 \/ 60/)).toBeTruthy();
    expect(screen.getByText(/75% left/)).toBeTruthy();
    expect(document.querySelectorAll("[data-countdown]")).toHaveLength(2);
    expect(screen.getByTestId("key-balance").textContent).toBe("Balance 0.5 USD — too low, key paused");
  });

  it("says why a balance is unknown", () => {
    render(<KeyQuota k={{ ...base, balance: { amount: null, low: false, checked_ms: 0, error: "the balance endpoint answered 401" } }} />);
    expect(screen.getByTestId("key-balance").textContent).toBe("Balance unknown: the balance endpoint answered 401");
  });
});
