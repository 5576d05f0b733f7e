// Links from the desktop app (tray, notifications) open the dashboard on a page through the
// URL fragment: `#token=…&page=keys&focus=3,5`. The fragment never reaches the server; this
// turns it into the dashboard's own path and query (`/providers?focus=3,5`).

/** Page names the app may link to, and where they live. */
const PAGES: Record<string, string> = {
  overview: "/",
  keys: "/providers",
  providers: "/providers",
  routes: "/routes",
  playground: "/playground",
  requests: "/requests",
  usage: "/usage",
  integrations: "/integrations",
  settings: "/settings",
};

/** Key ids in a `focus` value: a comma-separated list of positive integers (at most 50). */
export function parseFocus(value: string | null): number[] {
  if (!value) return [];
  const ids = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => /^[0-9]{1,15}$/.test(s))
    .map(Number);
  return [...new Set(ids)].slice(0, 50);
}

/**
 * The dashboard path a fragment's `page` and `focus` ask for (both removed from `params`),
 * or null when there is no (known) page.
 */
export function takeDeepLink(params: URLSearchParams): string | null {
  const page = params.get("page");
  const focus = parseFocus(params.get("focus"));
  params.delete("page");
  params.delete("focus");
  const path = page === null ? undefined : PAGES[page.toLowerCase()];
  if (path === undefined) return null;
  return focus.length ? `${path}?focus=${focus.join(",")}` : path;
}
