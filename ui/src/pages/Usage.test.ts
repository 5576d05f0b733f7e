import { describe, expect, it } from "vitest";
import { bucketIndex, groupOrder, hourBuckets, toSeries, usageCsv } from "./Usage";
import type { UsagePoint } from "../api/types";

const pt = (day: number, group: string | null, requests: number, errors = 0): UsagePoint => ({
  bucket_start_ms: day * 86_400_000,
  group,
  requests,
  errors,
  tokens_in: requests * 10,
  tokens_out: requests,
  tokens_cached: 0,
  tokens_reasoning: 0,
  cost_micros: requests * 1500,
});

describe("usage series", () => {
  const buckets = [0, 1, 2].map((d) => d * 86_400_000);
  const points = [pt(0, "a", 1), pt(1, "b", 5, 2), pt(2, "a", 1), pt(2, null, 1, 1)];

  it("places points in day buckets", () => {
    expect(bucketIndex(buckets, 86_400_000)).toBe(1);
    expect(bucketIndex(buckets, -10 * 86_400_000)).toBe(-1);
  });

  it("keeps one group order for every chart", () => {
    const order = groupOrder(points);
    expect(order).toEqual(["b", "a", ""]);
    const req = toSeries(points, buckets, (p) => p.requests, (g) => g || "none", order);
    const err = toSeries(points, buckets, (p) => p.errors, (g) => g || "none", order);
    expect(req.map((s) => s.name)).toEqual(["b", "a", "none"]);
    expect(err.map((s) => s.name)).toEqual(["b", "a", "none"]);
    expect(req[1].values).toEqual([1, 0, 1]);
    expect(err[0].values).toEqual([0, 2, 0]);
  });
});

describe("usage CSV", () => {
  it("has one row per day and group, cost in dollars, and defuses formulas", () => {
    const csv = usageCsv([pt(1, "=cmd", 2), pt(0, "codex", 4)], (g) => g || "none");
    const lines = csv.trim().split("\n");
    expect(lines[0]).toBe("day,group,requests,errors,tokens_in,tokens_out,tokens_cached,tokens_reasoning,cost_usd");
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^\d{4}-\d{2}-\d{2},codex,4,0,40,4,0,0,0\.006000$/);
    expect(lines[2]).toContain('"=cmd"');
  });
});

describe("hourly buckets for short ranges", () => {
  it("are the 24 hours up to this one, and a point lands in its own hour", () => {
    const now = Date.UTC(2026, 11, 6, 17, 42);
    const b = hourBuckets(now);
    expect(b).toHaveLength(24);
    expect(b[23]).toBe(Date.UTC(2026, 11, 6, 17));
    expect(b[1] - b[0]).toBe(3_600_000);
    // No DST slack per hour: 16:00 is the 16:00 bucket, not 17:00.
    expect(bucketIndex(b, Date.UTC(2026, 11, 6, 16), 0)).toBe(22);
    expect(bucketIndex(b, Date.UTC(2026, 11, 6, 16))).toBe(23);
  });
});
