import { Fragment, useEffect, useMemo, useState } from "react";
import { ArrowRightLeft, Eye, EyeOff, HeartPulse, KeyRound, Plus, Radio, Zap } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, CopyButton, EmptyState, ErrorNote, Pill, SecretStoreNote, Skeleton, SkeletonRows, StatePill, Switch } from "../components/ui";
import { KeyActions, KeyWhy } from "../components/KeyActions";
import { Checklist } from "../components/Checklist";
import { Sparkline } from "../components/Charts";
import { useToast } from "../components/Toasts";
import { api, must } from "../api/client";
import { SUMMARY_KEY, useAccessKey, useKeys, useStatus, useSummary } from "../api/queries";
import type { KeyView, RequestRecord } from "../api/types";
import { invalidate, setQueryData } from "../lib/query";
import { summaryRates } from "../lib/metrics";
import { keyShown, formatAgo, formatMs, formatPercent, humanize, secretStoreLabel } from "../lib/format";
import { useNow } from "../lib/now";
import { Link, navigate } from "../lib/router";
import { useLive } from "../lib/live";

export function Overview() {
  const status = useStatus();
  return (
    <>
      <PageHeader title="Overview">
        {status.data && (
          <span className="faint small">
            v{status.data.version} · keys in the {secretStoreLabel(status.data.secret_store)}
          </span>
        )}
      </PageHeader>
      <div className="content">
        <SecretStoreNote note={status.data?.secret_store_note} />
        {status.data && status.data.providers === 0 && (
          <Card>
            <EmptyState
              icon={<Plus size={22} />}
              title="Add your first provider"
              action={
                <Link to="/providers?add=1" className="btn primary">
                  <Plus size={15} /> Add a provider
                </Link>
              }
            >
              Switchboard routes your AI tools' requests to providers like OpenAI, Anthropic, DeepSeek or a local Ollama. Add one with its API keys to get started.
            </EmptyState>
          </Card>
        )}
        <Checklist />
        <EndpointCard />
        {status.data?.providers !== 0 && (
          <>
            <Stats />
            <HealthBoard />
            <div className="grid two">
              <Failovers />
              <Transitions />
            </div>
          </>
        )}
      </div>
    </>
  );
}

/** The base URL each API style's tools take: OpenAI clients add paths after `/v1`; Anthropic
 * and Gemini clients add their own `/v1/messages` or `/v1beta/…`, so they get the bare host
 * (an Anthropic tool given `…/v1` asks for `/v1/v1/messages`). */
export function baseUrls(endpoint: string | undefined): { id: string; label: string; url: string; hint: string }[] {
  const v1 = endpoint ?? "";
  const root = v1.replace(/\/v1\/?$/, "");
  return [
    { id: "openai", label: "OpenAI base URL", url: v1, hint: "OpenAI-compatible tools (Chat Completions, Responses): Codex, OpenCode, Aider, SDKs" },
    { id: "anthropic", label: "Anthropic base URL", url: root, hint: "Anthropic tools (Claude Code, the Anthropic SDK) add /v1/messages themselves: no /v1 here" },
    { id: "gemini", label: "Gemini base URL", url: root, hint: "Gemini tools (Gemini CLI, google-genai) add /v1beta/models/… themselves" },
  ];
}

function EndpointCard() {
  const status = useStatus();
  const key = useAccessKey();
  const toast = useToast();
  const [show, setShow] = useState(false);
  const routing = status.data?.routing ?? true;
  const setRouting = async (enabled: boolean) => {
    try {
      await must(api.PUT("/api/v1/routing", { body: { enabled } }));
      setQueryData<typeof status.data>("status", (s) => (s ? { ...s, routing: enabled } : s));
      toast.ok(enabled ? "Routing is on" : "Routing is off: tools get 503 until you turn it back on");
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  const masked = key.data ? `${key.data.access_key.slice(0, 6)}${"•".repeat(18)}${key.data.access_key.slice(-4)}` : "";
  return (
    <Card
      title="Endpoint"
      icon={<Radio size={16} />}
      actions={
        <div className="row">
          <Pill color={routing ? "green" : ""}>
            <span className="dot" /> Routing {routing ? "on" : "off"}
          </Pill>
          <Switch checked={routing} onChange={setRouting} label="Routing" disabled={!status.data} />
        </div>
      }
    >
      <div className="card-body">
        <dl className="endpoint">
          {baseUrls(status.data?.endpoint).map((u) => (
            <Fragment key={u.id}>
              <dt title={u.hint}>{u.label}</dt>
              <dd>{status.data ? <div className="code-box" data-testid={u.id === "openai" ? "endpoint-url" : `endpoint-url-${u.id}`} title={u.hint}>{u.url}</div> : <Skeleton />}</dd>
              <dd>{status.data && <CopyButton text={u.url} label="Copy URL" name={`Copy the ${u.label}`} small />}</dd>
            </Fragment>
          ))}
          <dt>Access key</dt>
          <dd>{key.data ? <div className="code-box">{show ? key.data.access_key : masked}</div> : <Skeleton />}</dd>
          <dd className="row">
            <button type="button" className="btn sm icon" onClick={() => setShow((s) => !s)} aria-label={show ? "Hide access key" : "Show access key"} title={show ? "Hide access key" : "Show access key"} disabled={!key.data}>
              {show ? <EyeOff size={14} /> : <Eye size={14} />}
            </button>
            {key.data && <CopyButton text={key.data.access_key} label="Copy key" small />}
          </dd>
        </dl>
      </div>
    </Card>
  );
}

/** How often the 30-minute window moves on without new requests. */
const SUMMARY_SLIDE_MS = 30_000;

function Stats() {
  const summary = useSummary();
  const status = useStatus();
  useEffect(() => {
    const t = setInterval(() => invalidate(SUMMARY_KEY), SUMMARY_SLIDE_MS);
    return () => clearInterval(t);
  }, []);
  const r = useMemo(() => (summary.data ? summaryRates(summary.data) : null), [summary.data]);
  const s = status.data;
  // Enabled keys by standing, as the router counts them (the tray shows the same numbers).
  const c = s?.summary.counts;
  return (
    <div className="grid stats">
      <section className="card stat">
        <span className="stat-label">
          <Zap size={13} /> Requests / min
        </span>
        <span className="stat-value" data-testid="rpm">
          {r ? r.rpm.toFixed(r.rpm < 10 ? 1 : 0) : <Skeleton width={60} height={26} />}
        </span>
        <Sparkline values={r?.perMinute ?? []} label="Requests per minute, last 30 minutes" />
      </section>
      <section className="card stat">
        <span className="stat-label">Error rate</span>
        <span className="stat-value">{r ? formatPercent(r.errorRate) : <Skeleton width={60} height={26} />}</span>
        <span className="stat-sub" data-testid="summary-total">{r ? `${r.total} ${r.total === 1 ? "request" : "requests"} · last 30 min` : " "}</span>
      </section>
      <section className="card stat">
        <span className="stat-label">Latency p50</span>
        <span className="stat-value">{r ? formatMs(r.p50) : <Skeleton width={60} height={26} />}</span>
        <span className="stat-sub">successful requests</span>
      </section>
      <section className="card stat">
        <span className="stat-label">Latency p95</span>
        <span className="stat-value">{r ? formatMs(r.p95) : <Skeleton width={60} height={26} />}</span>
        <span className="stat-sub">successful requests</span>
      </section>
      <section className="card stat">
        <span className="stat-label">
          <KeyRound size={13} /> Keys
        </span>
        <span className="stat-value" data-testid="key-count-keys">
          {c ? c.keys : <Skeleton width={40} height={26} />}
        </span>
        <span className="stat-sub">
          {c && s ? (
            <>
              <span className="tnum" data-testid="key-count-healthy">{c.healthy}</span> healthy · <span className="tnum" data-testid="key-count-cooling">{c.cooling}</span> cooling ·{" "}
              <span className="tnum" data-testid="key-count-down">{c.down}</span> failing
              {s.keys > c.keys && <> · {s.keys - c.keys} disabled</>}
            </>
          ) : (
            " "
          )}
        </span>
      </section>
    </div>
  );
}

function scopeText(k: KeyView): string {
  if (k.scope === "key_model" && k.model) return `model ${k.model}`;
  if (k.scope === "key") return "whole key";
  if (k.scope === "provider") return "provider";
  return "—";
}

export function HealthBoard() {
  const keys = useKeys();
  const order: Record<string, number> = { auth_error: 0, cooling: 1, probing: 2, untested: 3, healthy: 4, disabled: 5 };
  const sorted = [...(keys.data ?? [])].sort((a, b) => (order[a.state] ?? 9) - (order[b.state] ?? 9) || a.provider.localeCompare(b.provider) || a.id - b.id);
  return (
    <Card title="Key health" icon={<HeartPulse size={16} />} actions={<span className="faint small">{keys.data ? `${keys.data.length} keys` : ""}</span>}>
      {keys.error && !keys.data ? (
        <ErrorNote error={keys.error} onRetry={keys.reload} />
      ) : !keys.data ? (
        <SkeletonRows rows={3} />
      ) : keys.data.length === 0 ? (
        <EmptyState icon={<KeyRound size={22} />} title="No keys yet" action={<Link to="/providers" className="btn">Add keys</Link>}>
          Keys appear here with their live state: healthy, cooling down after a rate limit, or failing authentication.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table data-testid="health-board">
            <thead>
              <tr>
                <th>Key</th>
                <th className="hide-narrow">Provider</th>
                <th>State</th>
                <th className="hide-narrow">Scope</th>
                <th aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {sorted.map((k) => (
                <tr key={k.id} data-key-id={k.id}>
                  <td>
                    <div className="col" style={{ gap: 1 }}>
                      <span style={{ fontWeight: 500 }}>{k.label}</span>
                      <span className="mono faint hide-narrow">
                        {keyShown(k)} · {k.fingerprint.slice(0, 8)}
                      </span>
                      <span className="faint small show-narrow">{k.provider}</span>
                    </div>
                  </td>
                  <td className="wrap hide-narrow">{k.provider}</td>
                  <td>
                    <div className="col" style={{ gap: 2, alignItems: "flex-start" }}>
                      <StatePill state={k.state} untilMs={k.until_ms} />
                      <KeyWhy k={k} />
                    </div>
                  </td>
                  <td className="muted mono hide-narrow" data-scope={k.scope ?? undefined}>
                    {scopeText(k)}
                  </td>
                  <td style={{ textAlign: "right" }}>
                    <KeyActions k={k} compact />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function Failovers() {
  const summary = useSummary();
  const keys = useKeys();
  const who = (provider: string | null | undefined, keyId: number | null | undefined) => {
    const label = keys.data?.find((k) => k.id === keyId)?.label;
    return label ? `${provider ?? "—"}/${label}` : (provider ?? "—");
  };
  const list = summary.data?.recent_failovers ?? [];
  return (
    <Card title="Recent failovers" icon={<ArrowRightLeft size={16} />} actions={summary.data ? <span className="faint small" data-testid="failover-count">{summary.data.failovers} in 30 min</span> : null}>
      {!summary.data ? (
        <SkeletonRows rows={3} />
      ) : list.length === 0 ? (
        <div className="card-body muted small">No failovers in the last 30 minutes: every request was served by its first choice.</div>
      ) : (
        <div className="table-wrap">
          <table className="failovers">
            <tbody>
              {list.map((r: RequestRecord) => (
                <tr key={r.id} data-request-id={r.id} className="clickable" onClick={() => navigate(`/requests?id=${encodeURIComponent(r.id)}`)}>
                  <td className="wrap">
                    <div className="col" style={{ gap: 2 }}>
                      <span className="mono">{r.alias}</span>
                      <span className="small faint">
                        {r.status < 400
                          ? `${r.attempts
                              .slice(0, -1)
                              .map((a) => `${who(a.provider, a.key_id)} ${a.status ?? humanize(a.outcome)}`)
                              .join(" → ")} → ${who(r.provider, r.key_id)}`
                          : `${r.attempts.map((a) => `${who(a.provider, a.key_id)} ${a.status ?? humanize(a.outcome)}`).join(" → ")} → failed`}
                      </span>
                    </div>
                  </td>
                  <td className="num">
                    <Pill color={r.status < 400 ? "green" : "red"}>{r.status}</Pill>
                  </td>
                  <td className="num faint small">{formatAgo(r.started_at_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function Transitions() {
  const { events } = useLive();
  const keys = useKeys();
  useNow();
  const label = (id: number) => keys.data?.find((k) => k.id === id)?.label;
  return (
    <Card title="Health events" icon={<HeartPulse size={16} />} actions={<span className="faint small">latest {Math.min(events.length, 8)}, kept across reloads</span>}>
      {events.length === 0 ? (
        <div className="card-body muted small">Key state changes appear here as they happen.</div>
      ) : (
        <div className="table-wrap">
          <table data-testid="health-events">
            <tbody>
              {events.slice(0, 8).map((e, i) => (
                <tr key={`${e.at_ms}-${i}`}>
                  <td>
                    <div className="col" style={{ gap: 2 }}>
                      <span>
                        {e.scope === "provider" ? e.provider : (label(e.key_id) ?? `key ${e.key_id}`)}{" "}
                        <span className="faint small">{e.scope === "key_model" ? `· ${e.model}` : `· ${e.provider}`}</span>
                      </span>
                      {e.reason && <span className="small faint">{humanize(e.reason)}</span>}
                    </div>
                  </td>
                  <td>
                    <StatePill state={e.state} untilMs={e.until_ms} atMs={e.at_ms} />
                  </td>
                  <td className="num faint small">{formatAgo(e.at_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

