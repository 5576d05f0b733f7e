// Rates and percentiles over recent requests (the overview's live numbers).
import type { RequestRecord } from "../api/types";

export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

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

/** Over the last `windowMin` minutes before `now`: requests per minute, error rate, latency percentiles, and per-minute counts. */
export function rates(records: RequestRecord[], now: number, windowMin = 30): Rates {
  const since = now - windowMin * 60_000;
  const recent = records.filter((r) => r.started_at_ms >= since && r.started_at_ms <= now + 60_000);
  const perMinute = Array.from({ length: windowMin }, () => 0);
  for (const r of recent) {
    const i = windowMin - 1 - Math.floor((now - r.started_at_ms) / 60_000);
    if (i >= 0 && i < windowMin) perMinute[i]++;
  }
  const last5 = recent.filter((r) => r.started_at_ms >= now - 5 * 60_000).length;
  const lat = recent.filter((r) => !isError(r)).map((r) => r.latency_ms);
  return {
    rpm: last5 / 5,
    errorRate: recent.length ? recent.filter(isError).length / recent.length : null,
    p50: percentile(lat, 50),
    p95: percentile(lat, 95),
    total: recent.length,
    perMinute,
  };
}

/** Requests that needed more than one attempt (a failover happened). */
export function failovers(records: RequestRecord[]): RequestRecord[] {
  return records.filter((r) => r.attempts.length > 1);
}
