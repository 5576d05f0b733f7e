// The live feeds from the router's event bus: key standings, health transitions and finished
// requests. One connection each for the whole app; pages subscribe to what they show.
//
// A key's standing (its state, class, scope, model, until) is judged by the router, once; the
// feed's `standing` events carry the new one and are applied to the keys as they are. Raw
// `health` events (one scope each) only feed the list of transitions: a per-model cooldown is
// not the key's standing.

import { useSyncExternalStore } from "react";
import { follow } from "../api/client";
import type { HealthEvent, KeyView, RequestRecord, StandingChanged } from "../api/types";
import { RECENT_KEY, SUMMARY_KEY } from "../api/queries";
import { invalidate, setQueryData } from "./query";

type Listener<T> = (v: T) => void;

const requestListeners = new Set<Listener<RequestRecord>>();
/** Where the latest health events are kept, so the history survives a reload. */
export const EVENTS_STORE = "switchboard.healthEvents";
const KEPT_EVENTS = 50;

function loadEvents(): HealthEvent[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(EVENTS_STORE) ?? "[]");
    return Array.isArray(v) ? (v as HealthEvent[]).slice(0, KEPT_EVENTS) : [];
  } catch {
    return [];
  }
}

let events: HealthEvent[] = loadEvents();
let connected = { health: false, requests: false };
const stateSubs = new Set<() => void>();
let snapshot = { events, live: false };

function publish() {
  snapshot = { events, live: connected.health && connected.requests };
  stateSubs.forEach((s) => s());
}

let pending: ReturnType<typeof setTimeout> | undefined;
function refreshHealthViews() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = undefined;
    invalidate("keys", "status", "plan");
  }, 120);
}

export function onHealthEvent(ev: HealthEvent): void {
  events = [ev, ...events].slice(0, KEPT_EVENTS);
  try {
    localStorage.setItem(EVENTS_STORE, JSON.stringify(events));
  } catch {
    // Storage full or disabled: the history is kept for this page only.
  }
  publish();
  refreshHealthViews();
}

/** A key's new standing: shown at once, then the counts and plans are refetched. */
export function onStandingChanged(c: StandingChanged): void {
  const to = c.to;
  setQueryData<KeyView[]>("keys", (keys) =>
    keys?.map((k) =>
      k.id === c.key_id
        ? { ...k, state: to.state, class: to.class, reason: to.reason ?? null, scope: to.scope ?? null, model: to.model ?? null, until_ms: to.until_ms ?? null }
        : k,
    ),
  );
  refreshHealthViews();
}

let summaryPending: ReturnType<typeof setTimeout> | undefined;
/** The summary is counted by the server: ask again (at most once a second) as requests finish. */
function refreshSummary() {
  if (summaryPending) return;
  summaryPending = setTimeout(() => {
    summaryPending = undefined;
    invalidate(SUMMARY_KEY);
  }, 1000);
}

export function onRequestRecord(r: RequestRecord): void {
  setQueryData<RequestRecord[]>(RECENT_KEY, (old) => (old ? [r, ...old.filter((x) => x.id !== r.id)].slice(0, 1000) : old));
  refreshSummary();
  requestListeners.forEach((l) => l(r));
}

/** Starts both feeds; returns a stop function. */
export function startLive(): () => void {
  const stopHealth = follow(
    "/api/v1/health/events",
    (ev) => {
      try {
        if (ev.event === "standing") onStandingChanged(JSON.parse(ev.data) as StandingChanged);
        else if (ev.event === "health") onHealthEvent(JSON.parse(ev.data) as HealthEvent);
        else if (ev.event === "lagged") refreshHealthViews();
      } catch {
        /* malformed event: ignore */
      }
    },
    {
      onOpen: refreshHealthViews,
      onState: (live) => {
        connected = { ...connected, health: live };
        publish();
      },
    },
  );
  const stopRequests = follow(
    "/api/v1/requests/live",
    (ev) => {
      if (ev.event === "request") {
        try {
          onRequestRecord(JSON.parse(ev.data) as RequestRecord);
        } catch {
          /* ignore */
        }
      } else if (ev.event === "lagged") invalidate(RECENT_KEY, SUMMARY_KEY, "requests");
    },
    {
      onOpen: () => invalidate(RECENT_KEY, SUMMARY_KEY),
      onState: (live) => {
        connected = { ...connected, requests: live };
        publish();
      },
    },
  );
  return () => {
    stopHealth();
    stopRequests();
  };
}

export function subscribeRequests(l: Listener<RequestRecord>): () => void {
  requestListeners.add(l);
  return () => requestListeners.delete(l);
}

export function useLive(): { events: HealthEvent[]; live: boolean } {
  return useSyncExternalStore(
    (cb) => {
      stateSubs.add(cb);
      return () => stateSubs.delete(cb);
    },
    () => snapshot,
  );
}
