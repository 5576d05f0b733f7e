// The typed admin API client (types generated from the router's OpenAPI document) and the
// live feeds. Every admin call carries `Authorization: Bearer <admin token>`.

import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";
import { readSse, type SseEvent } from "../lib/sse";

/** Where the router is: same origin when served by it; the default port in the desktop webview. */
export function apiBase(loc: Location = window.location): string {
  const desktop = loc.protocol === "tauri:" || loc.hostname === "tauri.localhost";
  if (desktop) return localStorage.getItem("switchboard.apiBase") ?? "http://127.0.0.1:9911";
  return loc.origin;
}

let token: string | null = null;
let onUnauthorized: () => void = () => {};

export function setAdminToken(t: string | null): void {
  token = t;
}

export function getAdminToken(): string | null {
  return token;
}

export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

const auth: Middleware = {
  onRequest({ request }) {
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) onUnauthorized();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: apiBase() });
api.use(auth);

/** The message of an admin API error body, or a generic one. */
export function errorMessage(error: unknown, fallback = "Request failed"): string {
  if (error && typeof error === "object") {
    const e = error as { error?: { message?: unknown }; message?: unknown };
    if (e.error && typeof e.error.message === "string") return e.error.message;
    if (typeof e.message === "string") return e.message;
  }
  if (typeof error === "string" && error) return error;
  return fallback;
}

export class ApiError extends Error {}

/** Unwraps an openapi-fetch result: the data, or throws with the server's message. */
export async function must<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await p;
  if (error !== undefined || !response.ok) throw new ApiError(errorMessage(error, `${response.status} ${response.statusText}`));
  return data as T;
}

/**
 * Follows an admin SSE feed (`/api/v1/health/events`, `/api/v1/requests/live`) with fetch, so
 * the token stays in a header. Reconnects with backoff; `onOpen` runs on each (re)connect so
 * the caller can refetch what it may have missed. Returns a stop function.
 */
export function follow(path: string, onEvent: (ev: SseEvent) => void, hooks: { onOpen?: () => void; onState?: (live: boolean) => void } = {}): () => void {
  const ctl = new AbortController();
  let delay = 500;
  const run = async () => {
    while (!ctl.signal.aborted) {
      try {
        const resp = await fetch(apiBase() + path, {
          headers: { Authorization: `Bearer ${token ?? ""}`, Accept: "text/event-stream" },
          signal: ctl.signal,
          cache: "no-store",
        });
        if (resp.status === 401) {
          onUnauthorized();
          return;
        }
        if (!resp.ok || !resp.body) throw new Error(`${resp.status}`);
        delay = 500;
        hooks.onState?.(true);
        hooks.onOpen?.();
        await readSse(resp.body, onEvent, ctl.signal);
      } catch {
        // fall through to reconnect
      }
      if (ctl.signal.aborted) return;
      hooks.onState?.(false);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  };
  void run();
  return () => ctl.abort();
}
