import { describe, expect, it } from "vitest";
import { bucketIndex, groupOrder, toSeries } from "./Usage";
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
  cost_micros: 0,
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
