// The queries the pages share, keyed for invalidation.
import { api, must } from "./client";
import { useQuery } from "../lib/query";
import type { ClientView, FlowPlan, InstanceView, KeyView, Preset, Provider, RequestRecord, Route, Status, UsageSummary } from "./types";

export const useStatus = () => useQuery<Status>("status", () => must(api.GET("/api/v1/status")));
export const useInstances = () => useQuery<InstanceView[]>("instances", () => must(api.GET("/api/v1/instances")));
export const useProviders = () => useQuery<Provider[]>("providers", () => must(api.GET("/api/v1/providers")));
export const useKeys = () => useQuery<KeyView[]>("keys", () => must(api.GET("/api/v1/keys", { params: { query: {} } })));
export const useClients = () => useQuery<ClientView[]>("clients", () => must(api.GET("/api/v1/clients")));
export const useRoutes = () => useQuery<Route[]>("routes", () => must(api.GET("/api/v1/routes")));
export const usePresets = () => useQuery<Preset[]>("presets", () => must(api.GET("/api/v1/presets")));
export const useAccessKey = () => useQuery<{ access_key: string }>("access-key", () => must(api.GET("/api/v1/access-key")));
export const usePlan = (alias: string | null) =>
  useQuery<FlowPlan>(alias ? `plan:${alias}` : null, () => must(api.GET("/api/v1/routes/{alias}/plan", { params: { path: { alias: alias ?? "" } } })));

/** Recent requests (last 30 minutes) for the overview's rates; kept current by the live feed. */
export const RECENT_KEY = "recent";
export const useRecent = () =>
  useQuery<RequestRecord[]>(RECENT_KEY, () => must(api.GET("/api/v1/requests", { params: { query: { since_ms: Date.now() - 30 * 60_000, limit: 500 } } })));

/** The overview's numbers for the last 30 minutes, counted by the server over the whole
 * window; refetched as requests finish. */
export const SUMMARY_KEY = "summary";
export const useSummary = () =>
  useQuery<UsageSummary>(SUMMARY_KEY, () => must(api.GET("/api/v1/usage/summary", { params: { query: { window_ms: 30 * 60_000 } } })));
