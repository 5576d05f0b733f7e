import { describe, expect, it } from "vitest";
import { failovers, percentile, rates } from "./metrics";
import type { RequestRecord } from "../api/types";

const rec = (at: number, status: number, latency: number, attempts = 1): RequestRecord => ({
  id: `r${at}`,
  started_at_ms: at,
  dialect: "openai_chat",
  alias: "a",
  status,
  stream: false,
  latency_ms: latency,
  tokens_in: 0,
  tokens_out: 0,
  tokens_cached: 0,
  tokens_reasoning: 0,
  attempts: Array.from({ length: attempts }, () => ({ provider: "p", model: "m", outcome: "ok", duration_ms: 1 })),
});

describe("metrics", () => {
  it("computes percentiles", () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
  });
  it("computes rates over the window", () => {
    const now = 10 * 60_000;
    const rs = [rec(now - 1000, 200, 100), rec(now - 2000, 429, 5), rec(now - 6 * 60_000, 200, 300), rec(now - 40 * 60_000, 200, 1)];
    const r = rates(rs, now);
    expect(r.total).toBe(3);
    expect(r.rpm).toBeCloseTo(2 / 5);
    expect(r.errorRate).toBeCloseTo(1 / 3);
    expect(r.p50).toBe(100);
    expect(r.perMinute[29]).toBe(2);
    expect(r.perMinute[23]).toBe(1);
  });
  it("finds failovers", () => {
    expect(failovers([rec(1, 200, 1, 2), rec(2, 200, 1)]).map((r) => r.id)).toEqual(["r1"]);
  });
});
