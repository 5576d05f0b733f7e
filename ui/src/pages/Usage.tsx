import { useMemo } from "react";
import { BarChart3, DollarSign, Download, KeyRound } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, EmptyState, ErrorNote, SkeletonRows } from "../components/ui";
import { HBars, Legend, Lines, type Series, StackedBars } from "../components/Charts";
import { api, must } from "../api/client";
import { useKeys } from "../api/queries";
import type { UsagePoint } from "../api/types";
import type { components } from "../api/schema";
import { useQuery } from "../lib/query";
import { formatCount, formatMoney, formatMs, formatPercent } from "../lib/format";
import { setQuery, useLocation } from "../lib/router";

const RANGES = [
  { id: "1", label: "24 hours" },
  { id: "7", label: "7 days" },
  { id: "30", label: "30 days" },
  { id: "90", label: "90 days" },
];
const GROUPS = [
  { id: "provider", label: "Provider" },
  { id: "model", label: "Model" },
  { id: "key", label: "Key" },
  { id: "alias", label: "Alias" },
  { id: "client", label: "Client" },
];

type GroupBy = "provider" | "model" | "key" | "alias" | "client" | "none";

type KeyUsage = components["schemas"]["KeyUsage"];

const usd = (p: UsagePoint) => p.cost_micros / 1_000_000;

const CSV_COLUMNS = ["day", "group", "requests", "errors", "tokens_in", "tokens_out", "tokens_cached", "tokens_reasoning", "cost_usd"] as const;

function csvCell(v: string | number): string {
  const s = String(v);
  // Quote what would break the row, and what a spreadsheet would run as a formula.
  return /[",\n\r]|^[=+\-@]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The usage points as CSV (one row per day and group; days as local dates). */
export function usageCsv(points: UsagePoint[], groupName: (g: string) => string): string {
  const rows = [...points]
    .sort((a, b) => a.bucket_start_ms - b.bucket_start_ms || (a.group ?? "").localeCompare(b.group ?? ""))
    .map((p) => {
      const d = new Date(p.bucket_start_ms);
      const day = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
      return [day, groupName(p.group ?? ""), p.requests, p.errors, p.tokens_in, p.tokens_out, p.tokens_cached, p.tokens_reasoning, usd(p).toFixed(6)].map(csvCell).join(",");
    });
  return [CSV_COLUMNS.join(","), ...rows].join("\n") + "\n";
}

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

const HOUR_MS = 3_600_000;

/** Short ranges (a day) are counted per hour, longer ones per day. */
const hourly = (days: number) => days <= 1;

function useUsage(days: number, groupBy: GroupBy) {
  const offset = -new Date().getTimezoneOffset() * 60_000;
  return useQuery<UsagePoint[]>(`usage:${days}:${groupBy}`, () => {
    const since = rangeStart(days);
    return must(api.GET("/api/v1/usage", { params: { query: { since_ms: since, bucket: hourly(days) ? "hour" : "day", group_by: groupBy, utc_offset_ms: offset } } }));
  });
}

/** The first bucket's start: 23 hours before this hour, or local midnight `days - 1` days ago. */
function rangeStart(days: number): number {
  if (hourly(days)) return hourBuckets()[0];
  return dayBuckets(days)[0];
}

/** Attempts per key over the range, by the upstream's answer. */
function useKeyUsage(days: number) {
  return useQuery<KeyUsage[]>(`usage-keys:${days}`, () => must(api.GET("/api/v1/usage/keys", { params: { query: { since_ms: rangeStart(days) } } })));
}

export function hourBuckets(now = Date.now()): number[] {
  const start = Math.floor(now / HOUR_MS) * HOUR_MS;
  return Array.from({ length: 24 }, (_, i) => start - (23 - i) * HOUR_MS);
}

const hourLabel = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

function dayBuckets(days: number): number[] {
  const start = new Date();
  start.setHours(0, 0, 0, 0);
  return Array.from({ length: days }, (_, i) => {
    const d = new Date(start);
    d.setDate(d.getDate() - (days - 1 - i));
    return d.getTime();
  });
}

const dayLabel = (ms: number) => new Date(ms).toLocaleDateString([], { month: "short", day: "numeric" });

/** The bucket a point's start falls in (day buckets tolerate a DST hour: `slackMs`), or -1. */
export function bucketIndex(buckets: number[], ms: number, slackMs = HOUR_MS): number {
  let best = -1;
  for (let i = 0; i < buckets.length; i++) if (buckets[i] <= ms + slackMs) best = i;
  return best;
}

/** Groups by total requests, largest first: one order (and so one color each) for every chart. */
export function groupOrder(points: UsagePoint[]): string[] {
  const totals = new Map<string, number>();
  for (const p of points) totals.set(p.group ?? "", (totals.get(p.group ?? "") ?? 0) + p.requests);
  return [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([g]) => g);
}

/** Points grouped into series aligned on day buckets: the first five groups of `order`, the rest as "other". */
export function toSeries(points: UsagePoint[], buckets: number[], value: (p: UsagePoint) => number, name: (g: string) => string, order: string[], slackMs = HOUR_MS): Series[] {
  const keep = new Set(order.slice(0, 5));
  const series = new Map<string, number[]>();
  for (const g of [...order.slice(0, 5), "\u0000other"]) series.set(g, buckets.map(() => 0));
  for (const p of points) {
    const g = keep.has(p.group ?? "") ? (p.group ?? "") : "\u0000other";
    const i = bucketIndex(buckets, p.bucket_start_ms, slackMs);
    const arr = series.get(g);
    if (i >= 0 && arr) arr[i] += value(p);
  }
  const other = series.get("\u0000other");
  if (!other?.some((v) => v > 0)) series.delete("\u0000other");
  return [...series.entries()].map(([g, values]) => ({ name: g === "\u0000other" ? "other" : name(g), values }));
}

export function Usage() {
  const { query } = useLocation();
  const days = Number(query.get("days") ?? "30");
  const groupBy = (query.get("group") ?? "provider") as GroupBy;
  const grouped = useUsage(days, groupBy);
  const total = useUsage(days, "none");
  const byModel = useUsage(days, "model");
  const keys = useKeys();
  const perHour = hourly(days);
  const slack = perHour ? 0 : HOUR_MS;
  const unit = perHour ? "hour" : "day";
  const period = perHour ? "last 24 hours" : `last ${days} days`;
  const buckets = useMemo(() => (perHour ? hourBuckets() : dayBuckets(days)), [days, perHour]);
  const labels = buckets.map(perHour ? hourLabel : dayLabel);
  const keyUsage = useKeyUsage(days);
  const groupName = (g: string) => {
    if (!g) return groupBy === "provider" || groupBy === "key" ? "none (failed)" : groupBy === "client" ? "unattributed" : "none";
    return groupBy === "key" ? (keys.data?.find((k) => String(k.id) === g)?.label ?? `key ${g}`) : g;
  };
  const order = useMemo(() => groupOrder(grouped.data ?? []), [grouped.data]);

  const totals = useMemo(() => {
    const t = { requests: 0, errors: 0, tokens_in: 0, tokens_out: 0, cost: 0 };
    for (const p of total.data ?? []) {
      t.cost += usd(p);
      t.requests += p.requests;
      t.errors += p.errors;
      t.tokens_in += p.tokens_in;
      t.tokens_out += p.tokens_out;
    }
    return t;
  }, [total.data]);

  // Cost is priced by the server when each request is recorded.
  const costByModel = useMemo(() => {
    const perModel = new Map<string, number>();
    for (const p of byModel.data ?? []) if (p.cost_micros > 0) perModel.set(p.group ?? "", (perModel.get(p.group ?? "") ?? 0) + usd(p));
    return [...perModel.entries()].sort((a, b) => b[1] - a[1]).map(([name, value]) => ({ name, value }));
  }, [byModel.data]);

  const loading = !grouped.data || !total.data;
  const empty = total.data && totals.requests === 0;
  const reqSeries = grouped.data ? toSeries(grouped.data, buckets, (p) => p.requests, groupName, order, slack) : [];
  const tokSeries = grouped.data ? toSeries(grouped.data, buckets, (p) => p.tokens_in + p.tokens_out, groupName, order, slack) : [];
  const spendSeries = grouped.data ? toSeries(grouped.data, buckets, usd, groupName, order, slack) : [];
  const errSeries = grouped.data ? toSeries(grouped.data, buckets, (p) => p.errors, groupName, order, slack) : [];
  const align = (f: (p: UsagePoint) => number | null | undefined) => {
    const arr = buckets.map(() => Number.NaN);
    for (const p of total.data ?? []) {
      const i = bucketIndex(buckets, p.bucket_start_ms, slack);
      const v = f(p);
      if (i >= 0 && v !== null && v !== undefined) arr[i] = v;
    }
    return arr;
  };
  const latency: Series[] = [
    { name: "p50", values: align((p) => p.p50_latency_ms) },
    { name: "p95", values: align((p) => p.p95_latency_ms) },
  ];
  return (
    <>
      <PageHeader title="Usage">
        <button type="button" className="btn" disabled={!grouped.data?.length} onClick={() => grouped.data && download(`switchboard-usage-by-${groupBy}-${days}d.csv`, usageCsv(grouped.data, groupName))}>
          <Download size={14} /> Export CSV
        </button>
        <div className="segmented" role="group" aria-label="Group by">
          {GROUPS.map((g) => (
            <button type="button" key={g.id} aria-pressed={groupBy === g.id} onClick={() => setQuery({ group: g.id === "provider" ? null : g.id })}>
              {g.label}
            </button>
          ))}
        </div>
        <div className="segmented" role="group" aria-label="Range">
          {RANGES.map((r) => (
            <button type="button" key={r.id} aria-pressed={String(days) === r.id} onClick={() => setQuery({ days: r.id === "30" ? null : r.id })}>
              {r.label}
            </button>
          ))}
        </div>
      </PageHeader>
      <div className="content">
        {grouped.error && !grouped.data ? (
          <Card>
            <ErrorNote error={grouped.error} onRetry={grouped.reload} />
          </Card>
        ) : loading ? (
          <Card>
            <SkeletonRows rows={6} />
          </Card>
        ) : empty ? (
          <Card>
            <EmptyState icon={<BarChart3 size={22} />} title="No usage yet">
              Charts of requests, tokens, errors and latency per day fill in as your tools send requests through Switchboard.
            </EmptyState>
          </Card>
        ) : (
          <>
            <div className="grid stats">
              <section className="card stat">
                <span className="stat-label">Requests</span>
                <span className="stat-value">{formatCount(totals.requests)}</span>
                <span className="stat-sub">{period}</span>
              </section>
              <section className="card stat">
                <span className="stat-label">Tokens</span>
                <span className="stat-value">{formatCount(totals.tokens_in + totals.tokens_out)}</span>
                <span className="stat-sub">
                  {formatCount(totals.tokens_in)} in · {formatCount(totals.tokens_out)} out
                </span>
              </section>
              <section className="card stat">
                <span className="stat-label">Error rate</span>
                <span className="stat-value">{formatPercent(totals.requests ? totals.errors / totals.requests : null)}</span>
                <span className="stat-sub">
                  {formatCount(totals.errors)} {totals.errors === 1 ? "error" : "errors"}
                </span>
              </section>
              <section className="card stat">
                <span className="stat-label">
                  <DollarSign size={13} /> Cost
                </span>
                <span className="stat-value" data-testid="usage-cost">{formatMoney(totals.cost)}</span>
                <span className="stat-sub">{totals.cost > 0 ? period : "set model prices to see cost"}</span>
              </section>
            </div>
            <div className="grid two">
              <Card title={`Requests per ${unit}`}>
                <div className="card-body stack">
                  {reqSeries.some((x) => x.values.some((v) => v > 0)) ? <StackedBars labels={labels} series={reqSeries} label={`Requests per ${unit}`} /> : <div className="chart-empty">Nothing in this period</div>}
                  <Legend names={reqSeries.map((s) => s.name)} />
                </div>
              </Card>
              <Card title={`Tokens per ${unit}`}>
                <div className="card-body stack">
                  {tokSeries.some((x) => x.values.some((v) => v > 0)) ? <StackedBars labels={labels} series={tokSeries} label={`Tokens per ${unit}`} /> : <div className="chart-empty">Nothing in this period</div>}
                  <Legend names={tokSeries.map((s) => s.name)} />
                </div>
              </Card>
              <Card title={`Spend per ${unit} (USD)`}>
                <div className="card-body stack" data-testid="spend-chart">
                  {spendSeries.some((x) => x.values.some((v) => v > 0)) ? <StackedBars labels={labels} series={spendSeries} format={formatMoney} label={`Spend per ${unit}`} /> : <div className="chart-empty">No priced requests in this period</div>}
                  <Legend names={spendSeries.map((s) => s.name)} />
                </div>
              </Card>
              <Card title={`Errors per ${unit}`}>
                <div className="card-body stack">
                  {errSeries.some((x) => x.values.some((v) => v > 0)) ? <StackedBars labels={labels} series={errSeries} label={`Errors per ${unit}`} /> : <div className="chart-empty">No errors in this period</div>}
                  <Legend names={errSeries.map((s) => s.name)} />
                </div>
              </Card>
              <Card title="Latency (all requests)">
                <div className="card-body stack">
                  <Lines labels={labels} series={latency} format={(n) => formatMs(n)} label={`Latency p50 and p95 per ${unit}`} />
                  <Legend names={["p50", "p95"]} />
                </div>
              </Card>
            </div>
            <Card title="Attempts per key" icon={<KeyRound size={16} />} actions={<span className="faint small">every attempt, also those another key then served</span>}>
              {keyUsage.data && keyUsage.data.length > 0 ? (
                <div className="table-wrap">
                  <table data-testid="key-outcomes">
                    <thead>
                      <tr>
                        <th>Key</th>
                        <th className="num">Attempts</th>
                        <th className="num">Served</th>
                        <th className="num" title="Rate limited (HTTP 429)">429</th>
                        <th className="num" title="Rejected credentials (HTTP 401 or 403)">401/403</th>
                        <th className="num" title="Provider errors (HTTP 5xx)">5xx</th>
                      </tr>
                    </thead>
                    <tbody>
                      {keyUsage.data.map((k) => (
                        <tr key={k.key_id} data-key-id={k.key_id}>
                          <td>{keys.data?.find((x) => x.id === k.key_id)?.label ?? `key ${k.key_id} (deleted)`}</td>
                          <td className="num">{formatCount(k.attempts)}</td>
                          <td className="num">{formatCount(k.ok)}</td>
                          <td className="num" data-col="429">{formatCount(k.rate_limited)}</td>
                          <td className="num" data-col="auth">{formatCount(k.auth_failed)}</td>
                          <td className="num" data-col="5xx">{formatCount(k.server_errors)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ) : (
                <div className="card-body muted small">No attempts in this period.</div>
              )}
            </Card>
            {costByModel.length > 0 && (
              <Card title="Cost by model" icon={<DollarSign size={16} />}>
                <div className="card-body">
                  <HBars rows={costByModel} format={formatMoney} />
                </div>
              </Card>
            )}
          </>
        )}
      </div>
    </>
  );
}
