// A small data cache for the admin API: one in-flight fetch per key, shared by every
// component that asks, refreshed by invalidation when an action or a live event says so.

import { useCallback, useEffect, useSyncExternalStore } from "react";

interface Entry {
  data?: unknown;
  error?: string;
  loading: boolean;
  fetcher?: () => Promise<unknown>;
  version: number;
  fetchedAt: number;
  snapshot: Snapshot<unknown>;
}

export interface Snapshot<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
}

const cache = new Map<string, Entry>();
const listeners = new Map<string, Set<() => void>>();

function entry(key: string): Entry {
  let e = cache.get(key);
  if (!e) {
    e = { loading: false, version: 0, fetchedAt: 0, snapshot: { data: undefined, error: undefined, loading: false } };
    cache.set(key, e);
  }
  return e;
}

function emit(key: string) {
  const e = entry(key);
  e.snapshot = { data: e.data, error: e.error, loading: e.loading };
  listeners.get(key)?.forEach((l) => l());
}

async function load(key: string): Promise<void> {
  const e = entry(key);
  if (!e.fetcher) return;
  const version = ++e.version;
  e.loading = true;
  emit(key);
  try {
    const data = await e.fetcher();
    if (version !== e.version) return;
    e.data = data;
    e.error = undefined;
    e.fetchedAt = Date.now();
  } catch (err) {
    if (version !== e.version) return;
    e.error = err instanceof Error ? err.message : String(err);
  }
  e.loading = false;
  emit(key);
}

/** Refetches every cached query whose key starts with one of `prefixes`. */
export function invalidate(...prefixes: string[]): void {
  for (const key of cache.keys()) {
    if (prefixes.some((p) => key === p || key.startsWith(`${p}:`) || key.startsWith(`${p}?`))) void load(key);
  }
}

/** Replaces cached data locally (live updates), without a fetch. */
export function setQueryData<T>(key: string, update: (old: T | undefined) => T | undefined): void {
  const e = entry(key);
  e.data = update(e.data as T | undefined);
  emit(key);
}

export function useQuery<T>(key: string | null, fetcher: () => Promise<T>): Snapshot<T> & { reload: () => void } {
  const subscribe = useCallback(
    (cb: () => void) => {
      if (!key) return () => {};
      let set = listeners.get(key);
      if (!set) listeners.set(key, (set = new Set()));
      set.add(cb);
      return () => set.delete(cb);
    },
    [key],
  );
  const snap = useSyncExternalStore(subscribe, () => (key ? entry(key).snapshot : EMPTY)) as Snapshot<T>;
  useEffect(() => {
    if (!key) return;
    const e = entry(key);
    e.fetcher = fetcher;
    // Show what is cached at once, and revalidate it unless it was just fetched.
    if (!e.loading && (e.data === undefined || Date.now() - e.fetchedAt > 2000)) void load(key);
    // The fetcher closes over the key only; re-running on key change is enough.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const reload = useCallback(() => {
    if (key) void load(key);
  }, [key]);
  return { ...snap, loading: snap.loading || (key !== null && snap.data === undefined && snap.error === undefined), reload };
}

const EMPTY: Snapshot<unknown> = { data: undefined, error: undefined, loading: false };

/** For tests. */
export function resetQueries(): void {
  cache.clear();
  listeners.clear();
}
