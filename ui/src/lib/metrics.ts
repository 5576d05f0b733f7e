// The overview's live numbers, from the server's summary of the whole window.
import type { RequestRecord, UsageSummary } from "../api/types";

export function isError(r: Pick<RequestRecord, "status">): boolean {
  return r.status === 0 || r.status >= 400;
}

export interface Rates {
  rpm: number;
  errorRate: number | null;
  p50: number | null;
  p95: number | null;
  total: number;
  perMinute: number[];
}

/** Requests per minute (over the last five minutes), error rate, latency percentiles and
 * per-minute counts of a summary the server counted over its whole window. */
export function summaryRates(s: UsageSummary): Rates {
  const perMinute = s.per_minute;
  const last5 = perMinute.slice(-5).reduce((a, b) => a + b, 0);
  return {
    rpm: last5 / Math.min(5, Math.max(1, perMinute.length)),
    errorRate: s.requests ? s.errors / s.requests : null,
    p50: s.p50_latency_ms ?? null,
    p95: s.p95_latency_ms ?? null,
    total: s.requests,
    perMinute,
  };
}
