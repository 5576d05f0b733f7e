// The admin token: taken from the URL fragment at first load (`#token=…`, never sent to the
// server), kept in localStorage, and removed from the address bar. A deep link in the same
// fragment (`&page=keys&focus=3`) becomes the dashboard path it names.

import { takeDeepLink } from "./deeplink";

export const TOKEN_KEY = "switchboard.adminToken";

/** Reads `#token=` from the location, stores it, strips it from the URL; returns the token to use. */
export function bootstrapToken(loc: Location = window.location, storage: Storage = window.localStorage, history: History = window.history): string | null {
  const hash = loc.hash.startsWith("#") ? loc.hash.slice(1) : loc.hash;
  const params = new URLSearchParams(hash);
  const fromUrl = params.get("token");
  if (fromUrl !== null || params.has("page")) {
    params.delete("token");
    const target = takeDeepLink(params) ?? loc.pathname + loc.search;
    const rest = params.toString();
    history.replaceState(history.state, "", target + (rest ? `#${rest}` : ""));
  }
  if (fromUrl !== null) {
    const token = fromUrl.trim();
    if (token) {
      storage.setItem(TOKEN_KEY, token);
      return token;
    }
  }
  return storage.getItem(TOKEN_KEY);
}

export function saveToken(token: string, storage: Storage = window.localStorage): void {
  storage.setItem(TOKEN_KEY, token.trim());
}

export function clearToken(storage: Storage = window.localStorage): void {
  storage.removeItem(TOKEN_KEY);
}
