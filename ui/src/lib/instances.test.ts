import { describe, expect, it } from "vitest";
import { instanceUptimeMs, servedByMany, sortInstances, staleNote } from "./instances";

describe("instances", () => {
  it("counts an alive instance's uptime to now and a dead one's to its last heartbeat", () => {
    const alive = { alive: true, started_at_ms: 1_000, uptime_ms: 4_000 };
    expect(instanceUptimeMs(alive, 9_000)).toBe(8_000);
    // A clock behind the server's never shows less than the server counted.
    expect(instanceUptimeMs(alive, 2_000)).toBe(4_000);
    expect(instanceUptimeMs({ ...alive, alive: false }, 9_000)).toBe(4_000);
  });

  it("puts this instance first, then the alive ones, by id", () => {
    const rows = [
      { id: "d", alive: false, current: false },
      { id: "c", alive: true, current: false },
      { id: "z", alive: true, current: true },
      { id: "a", alive: true, current: false },
    ];
    expect(sortInstances(rows).map((r) => r.id)).toEqual(["z", "a", "c", "d"]);
  });

  it("notices requests served by more than one instance", () => {
    expect(servedByMany([])).toBe(false);
    expect(servedByMany([{ instance: "a" }, { instance: null }, { instance: "a" }])).toBe(false);
    expect(servedByMany([{ instance: null }, { instance: "a" }, { instance: "b" }])).toBe(true);
  });

  it("says how many heartbeats a stale instance missed and when its row goes", () => {
    expect(staleNote({ missed_heartbeats: 1, removed_at_ms: 3_600_000 }, 0)).toBe("missed 1 heartbeat · removed in 1h 00m");
    expect(staleNote({ missed_heartbeats: 12, removed_at_ms: 86_400_000 }, 1_000)).toBe("missed 12 heartbeats · removed in 23h 59m");
    expect(staleNote({ missed_heartbeats: 17_280, removed_at_ms: 5 }, 10)).toBe("missed 17280 heartbeats · being removed");
  });
});
