// State that survives leaving and coming back to a page (kept in memory for the session).
import { useCallback, useState } from "react";

const mem = new Map<string, unknown>();

/** Sets what `usePersistent(key, …)` starts with the next time a page using it opens. */
export function remember<T>(key: string, value: T): void {
  mem.set(key, value);
}

export function usePersistent<T>(key: string, initial: T): [T, (u: T | ((old: T) => T)) => void] {
  const [value, setValue] = useState<T>(() => (mem.has(key) ? (mem.get(key) as T) : initial));
  const set = useCallback(
    (u: T | ((old: T) => T)) => {
      const old = mem.has(key) ? (mem.get(key) as T) : initial;
      const next = typeof u === "function" ? (u as (o: T) => T)(old) : u;
      mem.set(key, next);
      setValue(next);
    },
    // `initial` is only the first value.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key],
  );
  return [value, set];
}
