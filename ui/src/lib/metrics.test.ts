import { describe, expect, it } from "vitest";
import { isError, summaryRates } from "./metrics";
import type { UsageSummary } from "../api/types";

const summary = (over: Partial<UsageSummary>): UsageSummary => ({
  since_ms: 0,
  until_ms: 30 * 60_000,
  requests: 0,
  errors: 0,
  failovers: 0,
  per_minute: Array.from({ length: 30 }, () => 0),
  recent_failovers: [],
  ...over,
});

describe("metrics", () => {
  it("reads the overview's numbers from the server's summary, beyond any page of the log", () => {
    const per_minute = Array.from({ length: 30 }, (_, i) => (i >= 25 ? 20 : 17));
    const r = summaryRates(summary({ requests: 523, errors: 52, per_minute, p50_latency_ms: 120, p95_latency_ms: 900 }));
    expect(r.total).toBe(523);
    expect(r.errorRate).toBeCloseTo(52 / 523);
    expect(r.rpm).toBe(20);
    expect([r.p50, r.p95]).toEqual([120, 900]);
    expect(r.perMinute).toBe(per_minute);
  });
  it("has no error rate or latency without requests", () => {
    const r = summaryRates(summary({}));
    expect([r.errorRate, r.p50, r.p95, r.rpm]).toEqual([null, null, null, 0]);
  });
  it("counts no answer and 4xx/5xx as errors", () => {
    expect([0, 200, 399, 400, 503].map((status) => isError({ status }))).toEqual([true, false, false, true, true]);
  });
});
