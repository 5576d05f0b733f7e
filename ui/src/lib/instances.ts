// The Instances view's derived numbers.
import type { InstanceView } from "../api/types";
import { formatCountdown } from "./format";

/** How long an instance has been up: until now while it is alive, else until its last
 * heartbeat (when it was last seen). */
export function instanceUptimeMs(i: Pick<InstanceView, "alive" | "started_at_ms" | "uptime_ms">, nowMs: number): number {
  return i.alive ? Math.max(i.uptime_ms, nowMs - i.started_at_ms) : i.uptime_ms;
}

/** What a stale row says: the heartbeats it missed and how long until its row is removed. */
export function staleNote(i: Pick<InstanceView, "missed_heartbeats" | "removed_at_ms">, nowMs: number): string {
  const missed = `missed ${i.missed_heartbeats} heartbeat${i.missed_heartbeats === 1 ? "" : "s"}`;
  const left = i.removed_at_ms - nowMs;
  return left > 0 ? `${missed} · removed in ${formatCountdown(left)}` : `${missed} · being removed`;
}

/** The current instance first, then the alive ones, then by id. */
export function sortInstances<T extends Pick<InstanceView, "id" | "alive" | "current">>(rows: T[]): T[] {
  const rank = (i: T) => (i.current ? 0 : i.alive ? 1 : 2);
  return [...rows].sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
}

/** Whether request records were served by more than one instance (team mode): the request
 * list then shows which. */
export function servedByMany(rows: { instance?: string | null }[]): boolean {
  const first = rows.find((r) => r.instance)?.instance;
  return rows.some((r) => r.instance && r.instance !== first);
}
