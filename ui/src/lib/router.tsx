// Client-side routing on the History API: the router serves index.html for every
// dashboard path, so `/requests?status=5xx` can be bookmarked and reloaded.

import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from "react";

const subs = new Set<() => void>();
window.addEventListener("popstate", () => subs.forEach((s) => s()));

function subscribe(cb: () => void) {
  subs.add(cb);
  return () => subs.delete(cb);
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  subs.forEach((s) => s());
  if (!opts.replace) window.scrollTo(0, 0);
}

export interface Location {
  path: string;
  query: URLSearchParams;
}

let cached: { href: string; loc: Location } | null = null;

function snapshot(): Location {
  const href = window.location.pathname + window.location.search;
  if (!cached || cached.href !== href) {
    cached = { href, loc: { path: window.location.pathname, query: new URLSearchParams(window.location.search) } };
  }
  return cached.loc;
}

export function useLocation(): Location {
  return useSyncExternalStore(subscribe, snapshot);
}

/** Replaces query parameters (empty values removed) without a history entry. */
export function setQuery(params: Record<string, string | null | undefined>): void {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "") q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(window.location.pathname + (s ? `?${s}` : ""), { replace: true });
}

export function Link({ to, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}
