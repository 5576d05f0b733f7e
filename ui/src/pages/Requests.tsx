import { useEffect, useMemo, useState } from "react";
import { Activity, ArrowRightLeft, Pause, Play, X } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, EmptyState, ErrorNote, Pill, SkeletonRows } from "../components/ui";
import { RequestDetail, statusColor } from "../components/RequestDetail";
import { CaptureControl, CapturePanel } from "../components/Inspector";
import { api, must } from "../api/client";
import { useClients, useInstances, useKeys, useProviders, useRecent, useRoutes } from "../api/queries";
import type { RequestRecord } from "../api/types";
import { useQuery } from "../lib/query";
import { subscribeRequests } from "../lib/live";
import { formatMs, formatTime } from "../lib/format";
import { servedByMany } from "../lib/instances";
import { isError } from "../lib/metrics";
import { setQuery, useLocation } from "../lib/router";

const RANGES: { id: string; label: string; ms: number | null }[] = [
  { id: "15m", label: "15 min", ms: 15 * 60_000 },
  { id: "1h", label: "1 hour", ms: 3_600_000 },
  { id: "24h", label: "24 hours", ms: 86_400_000 },
  { id: "7d", label: "7 days", ms: 7 * 86_400_000 },
  { id: "all", label: "All", ms: null },
];

function matches(r: RequestRecord, f: { alias: string; provider: string; client: string; instance: string; status: string }): boolean {
  if (f.alias && r.alias !== f.alias) return false;
  if (f.instance && r.instance !== f.instance) return false;
  if (f.client && r.client !== f.client) return false;
  if (f.provider && r.provider !== f.provider) return false;
  if (f.status) {
    if (f.status === "error") return isError(r);
    if (f.status.endsWith("xx")) return Math.floor(r.status / 100) === Number(f.status[0]);
    return r.status === Number(f.status);
  }
  return true;
}

export function Requests() {
  const { query } = useLocation();
  const f = { alias: query.get("alias") ?? "", provider: query.get("provider") ?? "", client: query.get("client") ?? "", instance: query.get("instance") ?? "", status: query.get("status") ?? "", range: query.get("range") ?? "24h" };
  const selectedId = query.get("id");
  const [live, setLive] = useState(true);
  const [extra, setExtra] = useState<RequestRecord[]>([]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [older, setOlder] = useState<RequestRecord[]>([]);
  const [moreBusy, setMoreBusy] = useState(false);
  const [exhausted, setExhausted] = useState(false);
  const range = RANGES.find((r) => r.id === f.range) ?? RANGES[2];
  const key = `requests?${f.alias}|${f.provider}|${f.client}|${f.instance}|${f.status}|${f.range}`;
  const list = useQuery<RequestRecord[]>(key, () =>
    must(
      api.GET("/api/v1/requests", {
        params: { query: { alias: f.alias || undefined, provider: f.provider || undefined, client: f.client || undefined, instance: f.instance || undefined, status: f.status || undefined, since_ms: range.ms ? Date.now() - range.ms : undefined, limit: 200 } },
      }),
    ),
  );
  const keys = useKeys();
  const recent = useRecent();
  const routes = useRoutes();
  const providers = useProviders();
  const clients = useClients();
  const instances = useInstances();
  useEffect(() => {
    setExtra([]);
    setOlder([]);
    setExhausted(false);
  }, [key]);
  useEffect(() => {
    if (!live) return;
    return subscribeRequests((r) => {
      if (!matches(r, f)) return;
      setExtra((xs) => [r, ...xs.filter((x) => x.id !== r.id)].slice(0, 500));
      setFresh((s) => new Set(s).add(r.id));
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, key]);
  const rows = useMemo(() => {
    const seen = new Set<string>();
    // Requests that just finished may not be in the (batched) log yet: the live feed has them.
    const since = range.ms ? Date.now() - range.ms : 0;
    const live = (recent.data ?? []).filter((r) => r.started_at_ms >= since && matches(r, f));
    return [...extra, ...live, ...(list.data ?? []), ...older]
      .filter((r) => (seen.has(r.id) ? false : (seen.add(r.id), true)))
      .sort((a, b) => b.started_at_ms - a.started_at_ms || (a.id < b.id ? 1 : -1));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [extra, list.data, older, recent.data, key]);
  // The serving instance's column: when several served the rows shown, or one is filtered on.
  const manyInstances = servedByMany(rows) || f.instance !== "";
  // Team mode: the instances listed now, and those whose requests are shown (stopped ones too).
  const instanceIds = [...new Set([...(instances.data ?? []).map((i) => i.id), ...rows.flatMap((r) => (r.instance ? [r.instance] : [])), ...(f.instance ? [f.instance] : [])])].sort();
  const loadOlder = async () => {
    const last = rows[rows.length - 1];
    if (!last) return;
    setMoreBusy(true);
    try {
      const page = await must(
        api.GET("/api/v1/requests", {
          params: { query: { alias: f.alias || undefined, provider: f.provider || undefined, client: f.client || undefined, instance: f.instance || undefined, status: f.status || undefined, since_ms: range.ms ? Date.now() - range.ms : undefined, before: last.id, limit: 200 } },
        }),
      );
      setOlder((o) => [...o, ...page]);
      if (page.length < 200) setExhausted(true);
    } finally {
      setMoreBusy(false);
    }
  };
  const canLoadMore = !exhausted && (list.data?.length ?? 0) >= 200;
  const selected = rows.find((r) => r.id === selectedId) ?? null;
  const detail = useQuery<RequestRecord>(selectedId && !selected ? `request:${selectedId}` : null, () => must(api.GET("/api/v1/requests/{id}", { params: { path: { id: selectedId ?? "" } } })));
  const shown = selected ?? detail.data ?? null;
  const filtered = f.alias || f.provider || f.client || f.instance || f.status;
  return (
    <>
      <PageHeader title="Requests">
        <CaptureControl />
        <button type="button" className={`btn ${live ? "" : "primary"}`} onClick={() => setLive((v) => !v)} aria-pressed={live}>
          {live ? <Pause size={14} /> : <Play size={14} />} {live ? "Pause live tail" : "Resume live tail"}
        </button>
      </PageHeader>
      <div className="content">
        <div className={selectedId ? "split with-detail" : "split"}>
          <Card>
            <div className="filters" role="search">
              <select className="select" aria-label="Alias" value={f.alias} onChange={(e) => setQuery({ alias: e.target.value })}>
                <option value="">All aliases</option>
                {[...new Set([...(routes.data ?? []).map((r) => r.alias), ...(f.alias ? [f.alias] : [])])].map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
              <select className="select" aria-label="Provider" value={f.provider} onChange={(e) => setQuery({ provider: e.target.value })}>
                <option value="">All providers</option>
                {(providers.data ?? []).map((p) => (
                  <option key={p.name} value={p.name}>
                    {p.name}
                  </option>
                ))}
              </select>
              <select className="select" aria-label="Client" value={f.client} onChange={(e) => setQuery({ client: e.target.value })}>
                <option value="">All clients</option>
                {[...new Set([...(clients.data ?? []).map((c) => c.name), ...(f.client ? [f.client] : [])])].map((c) => (
                  <option key={c} value={c}>
                    {c}
                  </option>
                ))}
              </select>
              {instanceIds.length > 1 && (
                <select className="select" aria-label="Instance" value={f.instance} onChange={(e) => setQuery({ instance: e.target.value })}>
                  <option value="">All instances</option>
                  {instanceIds.map((i) => (
                    <option key={i} value={i}>
                      {i}
                    </option>
                  ))}
                </select>
              )}
              <select className="select" aria-label="Status" value={f.status} onChange={(e) => setQuery({ status: e.target.value })}>
                <option value="">Any status</option>
                <option value="2xx">Success (2xx)</option>
                <option value="error">Errors</option>
                <option value="4xx">4xx</option>
                <option value="429">429 rate limited</option>
                <option value="5xx">5xx</option>
              </select>
              <div className="segmented" role="group" aria-label="Time range">
                {RANGES.map((r) => (
                  <button type="button" key={r.id} aria-pressed={f.range === r.id} onClick={() => setQuery({ range: r.id === "24h" ? null : r.id })}>
                    {r.label}
                  </button>
                ))}
              </div>
              {filtered && (
                <button type="button" className="btn ghost sm" onClick={() => setQuery({ alias: null, provider: null, client: null, instance: null, status: null })}>
                  <X size={13} /> Clear filters
                </button>
              )}
              <span className="spacer" />
              {live && (
                <Pill color="green">
                  <span className="dot" /> live
                </Pill>
              )}
            </div>
            {list.error && !list.data ? (
              <ErrorNote error={list.error} onRetry={list.reload} />
            ) : !list.data ? (
              <SkeletonRows rows={6} />
            ) : rows.length === 0 ? (
              <EmptyState icon={<Activity size={22} />} title={filtered ? "No requests match" : "No requests yet"}>
                {filtered ? "Try a wider time range or clear the filters." : "Requests your tools send through Switchboard appear here as they finish, with every attempt, timing and token counts."}
              </EmptyState>
            ) : (
              <div className="table-wrap">
                <table data-testid="requests-table">
                  <thead>
                    <tr>
                      <th>Time</th>
                      <th>Status</th>
                      <th>Alias</th>
                      <th>Client</th>
                      <th>Served by</th>
                      {manyInstances && <th>Instance</th>}
                      <th className="num">TTFB</th>
                      <th className="num">Total</th>
                      <th className="num">Tokens</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((r) => (
                      <tr
                        key={r.id}
                        className={`clickable ${r.id === selectedId ? "selected" : ""} ${fresh.has(r.id) ? "flash" : ""}`}
                        onClick={() => setQuery({ id: r.id })}
                        onKeyDown={(e) => e.key === "Enter" && setQuery({ id: r.id })}
                        tabIndex={0}
                        aria-selected={r.id === selectedId}
                        data-request-id={r.id}
                      >
                        <td className="tnum faint">{formatTime(r.started_at_ms)}</td>
                        <td>
                          <Pill color={statusColor(r.status)}>{r.status || "—"}</Pill>
                        </td>
                        <td className="mono truncate" title={r.refused ? `Refused before routing: ${r.refused}` : undefined}>
                          {r.refused ? (
                            <span className="pill red" data-testid="refused">
                              refused · {r.refused}
                            </span>
                          ) : (
                            r.alias
                          )}
                        </td>
                        <td className="mono faint">{r.client ?? "—"}</td>
                        <td>
                          <div className="row">
                            <span className="truncate">
                              {r.provider ?? "—"} {r.upstream_model && <span className="mono faint">{r.upstream_model}</span>}
                            </span>
                            {r.attempts.length > 1 && (
                              <span className="pill amber" title={`${r.attempts.length} attempts`}>
                                <ArrowRightLeft size={11} /> {r.attempts.length}
                              </span>
                            )}
                          </div>
                        </td>
                        {manyInstances && (
                          <td className="mono faint" data-testid="request-row-instance">
                            {r.instance ?? "—"}
                          </td>
                        )}
                        <td className="num">{formatMs(r.ttfb_ms)}</td>
                        <td className="num">{formatMs(r.latency_ms)}</td>
                        <td className="num">{(r.tokens_in + r.tokens_out).toLocaleString()}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                {canLoadMore && (
                  <div className="card-body row" style={{ justifyContent: "center", borderTop: "1px solid var(--border)" }}>
                    <button type="button" className="btn sm" onClick={loadOlder} disabled={moreBusy}>
                      {moreBusy ? "Loading…" : "Load older requests"}
                    </button>
                  </div>
                )}
              </div>
            )}
          </Card>
          {selectedId && (
          <Card
            className="detail"
            title="Request"
            actions={
              (
                <button type="button" className="btn ghost sm icon" aria-label="Close details" title="Close details" onClick={() => setQuery({ id: null })}>
                  <X size={14} />
                </button>
              )
            }
          >
            <div className="card-body" data-testid="request-detail">
              {shown ? <RequestDetail r={shown} keys={keys.data} /> : detail.loading ? <SkeletonRows rows={6} /> : <p className="faint small">This request is no longer in the log.</p>}
              <div className="col" style={{ marginTop: 16 }}>
                <h3>Capture</h3>
                <CapturePanel key={selectedId} requestId={selectedId} />
              </div>
            </div>
          </Card>
          )}
        </div>
      </div>
    </>
  );
}
