import { Database } from "lucide-react";
import { api, must } from "../api/client";
import { useQuery } from "../lib/query";
import type { CacheHit } from "../api/types";

/** Per provider, the share of input tokens read from its prompt cache over the last 24 hours,
 * computed by the server; refetched with the other request-derived queries. */
export const CACHE_HITS_KEY = "cache-hits";
export const useCacheHits = () => useQuery<CacheHit[]>(CACHE_HITS_KEY, () => must(api.GET("/api/v1/usage/cache-hits", { params: { query: {} } })));

/** The provider's prompt-cache hit rate, or nothing when it served no input tokens lately. */
export function CacheHitRate({ provider }: { provider: string }) {
  const hit = useCacheHits().data?.find((h) => h.provider === provider);
  if (hit?.hit_rate === undefined || hit.hit_rate === null) return null;
  const pct = Math.round(hit.hit_rate * 1000) / 10;
  return (
    <span
      className="tag"
      data-testid="cache-hit-rate"
      title={`${hit.tokens_cached.toLocaleString()} of ${hit.tokens_in.toLocaleString()} input tokens read from the prompt cache (last 24 h)`}
    >
      <Database size={11} style={{ verticalAlign: -1 }} aria-hidden="true" /> {pct}% cache hits
    </span>
  );
}
