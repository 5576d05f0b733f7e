import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, render, screen, waitFor, within } from "@testing-library/react";
import type { SseEvent } from "./sse";
import type { KeyView, Status, Summary } from "../api/types";
import { resetQueries } from "./query";
import { startLive } from "./live";
import { HealthBoard, Overview } from "../pages/Overview";
import { ToastProvider } from "../components/Toasts";

// The router's answers, changed by each test, and the live feed's handler, captured.
let keys: KeyView[] = [];
let status: Partial<Status> = {};
const calls: string[] = [];
let feed: ((ev: SseEvent) => void) | undefined;

vi.mock("../api/client", () => ({
  api: {
    GET: async (path: string) => {
      calls.push(path);
      const data =
        path === "/api/v1/keys"
          ? keys
          : path === "/api/v1/status"
            ? status
            : path === "/api/v1/access-key"
              ? { access_key: "sk-sb-0123456789abcdef" }
              : path === "/api/v1/usage/summary"
                ? { since_ms: 0, until_ms: 1, requests: 0, errors: 0, failovers: 0, per_minute: [], recent_failovers: [] }
                : [];
      return { data: structuredClone(data), response: new Response(null, { status: 200 }) };
    },
  },
  must: async (p: Promise<{ data?: unknown }>) => (await p).data,
  follow: (path: string, onEvent: (ev: SseEvent) => void) => {
    if (path === "/api/v1/health/events") feed = onEvent;
    return () => {};
  },
}));


const healthy = { state: "healthy", class: "healthy", reason: null, scope: null, model: null, until_ms: null } as const;
const breaker = { state: "cooling", class: "cooling", reason: "temporary_error", scope: "provider", model: null, until_ms: Date.now() + 30_000 } as const;

function key(id: number, label: string, standing: object = healthy): KeyView {
  return { id, provider: "p", label, weight: 1, enabled: true, fingerprint: "0123456789ab", last4: "abcd", ...standing } as KeyView;
}

function summary(healthyKeys: number, cooling: number): Summary {
  const state = cooling === 0 ? "all_healthy" : healthyKeys === 0 ? "nothing_usable" : "some_cooling";
  return { routing: true, counts: { keys: healthyKeys + cooling, healthy: healthyKeys, cooling, down: 0 }, state, unusable_aliases: healthyKeys === 0 ? ["m"] : [] };
}

function send(event: string, data: unknown) {
  act(() => feed?.({ event, data: JSON.stringify(data) }));
}

const row = (label: string) => screen.getByText(label).closest("tr") as HTMLElement;
const stateOf = (label: string) => row(label).querySelector("[data-state]")?.getAttribute("data-state");
const scopeOf = (label: string) => row(label).querySelector("[data-scope]")?.getAttribute("data-scope") ?? null;

describe("live standings", () => {
  let stop: () => void;
  beforeEach(() => {
    resetQueries();
    calls.length = 0;
    keys = [key(1, "one"), key(2, "two")];
    status = { version: "0.1.0", endpoint: "http://127.0.0.1:9911/v1", routing: true, providers: 1, keys: 2, routes: 1, in_flight: 0, secret_store: "encrypted_file", started_at_ms: 0, summary: summary(2, 0) } as Partial<Status>;
    stop = startLive();
  });
  afterEach(() => stop());

  it("shows a key's new standing at once, from the standing event", async () => {
    render(<HealthBoard />);
    await screen.findByText("one");
    expect(stateOf("one")).toBe("healthy");
    send("standing", { key_id: 1, provider: "p", label: "one", from: healthy, to: breaker });
    // Applied before any refetch: the cache holds the event's standing.
    expect(stateOf("one")).toBe("cooling");
    expect(scopeOf("one")).toBe("provider");
    expect(within(row("one")).getByText("provider")).toBeTruthy();
    expect(stateOf("two")).toBe("healthy");
  });

  it("never copies a per-model health event onto the whole key", async () => {
    keys = [key(1, "one", breaker), key(2, "two", breaker)];
    render(<HealthBoard />);
    await screen.findByText("one");
    expect(stateOf("one")).toBe("cooling");
    const before = calls.length;
    // A probe of one model answered: that model's scope is healthy, the provider's breaker
    // is still open, so the key is not.
    send("health", { scope: "key_model", key_id: 1, model: "x", provider: "p", state: "healthy", reason: null, until_ms: null, at_ms: Date.now() });
    expect(stateOf("one")).toBe("cooling");
    expect(scopeOf("one")).toBe("provider");
    // It only asks the router again, which still says cooling.
    await waitFor(() => expect(calls.length).toBeGreaterThan(before));
    await waitFor(() => expect(calls.slice(before)).toContain("/api/v1/keys"));
    expect(stateOf("one")).toBe("cooling");
  });

  it("shows the counts of /status, refetched after a standing changes", async () => {
    render(
      <ToastProvider>
        <Overview />
      </ToastProvider>,
    );
    const count = (c: string) => screen.getByTestId(`key-count-${c}`).textContent;
    await waitFor(() => expect(count("healthy")).toBe("2"));
    expect([count("keys"), count("cooling"), count("down")]).toEqual(["2", "0", "0"]);
    // The breaker opens: the router's standings and counts change, the feed says so.
    keys = [key(1, "one", breaker), key(2, "two", breaker)];
    status = { ...status, summary: summary(0, 2) };
    send("standing", { key_id: 1, provider: "p", label: "one", from: healthy, to: breaker });
    send("standing", { key_id: 2, provider: "p", label: "two", from: healthy, to: breaker });
    await waitFor(() => expect(count("cooling")).toBe("2"));
    expect([count("keys"), count("healthy"), count("down")]).toEqual(["2", "0", "0"]);
    const board = screen.getByTestId("health-board");
    expect([...board.querySelectorAll("tr[data-key-id] [data-state]")].map((e) => e.getAttribute("data-state"))).toEqual(["cooling", "cooling"]);
  });

  it("ignores a malformed event", async () => {
    render(<HealthBoard />);
    await screen.findByText("one");
    act(() => feed?.({ event: "standing", data: "{not json" }));
    expect(stateOf("one")).toBe("healthy");
  });
});
