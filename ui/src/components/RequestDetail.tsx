import { CircleCheck, CircleX, Clock, KeyRound } from "lucide-react";
import { CLIENT_DIALECTS } from "../lib/dialects";
import type { KeyView, RequestRecord } from "../api/types";
import { formatDateTime, formatMs, humanize } from "../lib/format";
import { Pill } from "./ui";

export function statusColor(status: number): string {
  if (status === 0) return "";
  if (status < 300) return "green";
  if (status === 429) return "amber";
  return "red";
}

/** The attempt chain of a request: every provider/key tried, in order, with its outcome. */
export function AttemptChain({ r, keys }: { r: RequestRecord; keys?: KeyView[] }) {
  const label = (id: number | null | undefined) => (id === null || id === undefined ? null : (keys?.find((k) => k.id === id)?.label ?? `#${id}`));
  return (
    <ol className="chain" aria-label="Attempts" data-testid="attempt-chain">
      {r.attempts.map((a, i) => {
        const ok = a.outcome === "ok" || a.outcome === "success" || (a.status !== null && a.status !== undefined && a.status < 300);
        return (
          <li key={i} className={`attempt ${ok ? "ok" : "fail"}`} data-outcome={a.outcome}>
            <span className={`attempt-icon ${ok ? "ok" : "fail"}`}>{ok ? <CircleCheck size={16} /> : <CircleX size={16} />}</span>
            <div className="col" style={{ gap: 2, minWidth: 0 }}>
              <span>
                <strong>{a.provider}</strong> <span className="mono">{a.model}</span>
              </span>
              <span className="small faint">
                {label(a.key_id) ? (
                  <>
                    <span className="key-ref">
                      <KeyRound size={11} aria-label="key" /> {label(a.key_id)}
                    </span>{" "}
                    ·{" "}
                  </>
                ) : null}
                {humanize(a.outcome)}
                {a.retry_after_ms ? ` · resets in ${formatMs(a.retry_after_ms)}` : ""}
              </span>
              {a.message && (
                <span className="small mono attempt-message" data-testid="attempt-message" title="What the provider said (secrets removed)">
                  {a.message}
                </span>
              )}
            </div>
            <div className="col" style={{ gap: 2, alignItems: "flex-end" }}>
              {a.status !== null && a.status !== undefined && <Pill color={statusColor(a.status)}>{a.status}</Pill>}
              <span className="small faint tnum">{formatMs(a.duration_ms)}</span>
            </div>
          </li>
        );
      })}
      {r.attempts.length === 0 && <li className="muted small">{r.refused ? "Refused before routing: no upstream was asked." : "No upstream attempt (answered by the router)."}</li>}
    </ol>
  );
}

export function RequestDetail({ r, keys }: { r: RequestRecord; keys?: KeyView[] }) {
  const key = keys?.find((k) => k.id === r.key_id);
  return (
    <div className="stack">
      <dl className="kv">
        <dt>Status</dt>
        <dd>
          <Pill color={statusColor(r.status)}>{r.status || "cancelled"}</Pill>
        </dd>
        {r.refused ? (
          <>
            <dt>Refused</dt>
            <dd className="mono" data-testid="refused-path">
              {r.refused} <span className="faint">· before routing</span>
            </dd>
          </>
        ) : (
          <>
            <dt>Alias</dt>
            <dd className="mono">{r.alias}</dd>
          </>
        )}
        <dt>Served by</dt>
        <dd>
          {r.provider ? (
            <>
              {r.provider} <span className="mono">{r.upstream_model}</span>
              {key && (
                <>
                  <span className="faint"> · </span>
                  <span className="faint key-ref">
                    <KeyRound size={11} aria-label="key" /> {key.label}
                  </span>
                </>
              )}
            </>
          ) : (
            "—"
          )}
        </dd>
        {r.affinity && (
          <>
            <dt>Affinity</dt>
            <dd data-testid="request-affinity" title="Whether this conversation stayed on the provider, model and key that served it before">
              {r.affinity === "kept" ? "Kept on its provider and key" : `Moved: ${r.affinity.replace(/^moved: /, "")}`}
            </dd>
          </>
        )}
        <dt>Client dialect</dt>
        <dd>
          {CLIENT_DIALECTS.find((d) => d.id === r.dialect)?.label ?? humanize(r.dialect)}
          {r.stream ? " · streamed" : ""}
        </dd>
        <dt>Started</dt>
        <dd className="tnum">{formatDateTime(r.started_at_ms)}</dd>
        <dt>
          <Clock size={12} style={{ verticalAlign: -1 }} /> TTFB
        </dt>
        <dd className="tnum">{formatMs(r.ttfb_ms)}</dd>
        <dt>Total</dt>
        <dd className="tnum">{formatMs(r.latency_ms)}</dd>
        <dt>Tokens</dt>
        <dd className="tnum">
          {r.tokens_in.toLocaleString()} in · {r.tokens_out.toLocaleString()} out
          {r.tokens_cached ? ` · ${r.tokens_cached.toLocaleString()} cached` : ""}
          {r.tokens_reasoning ? ` · ${r.tokens_reasoning.toLocaleString()} reasoning` : ""}
        </dd>
        {(r.audio_ms ?? 0) > 0 && (
          <>
            <dt>Audio</dt>
            <dd className="tnum" data-testid="request-audio" title="Audio transcribed or translated, as the provider's answer says">
              {formatMs(r.audio_ms ?? 0)}
            </dd>
          </>
        )}
        {(r.images ?? 0) > 0 && (
          <>
            <dt>Images</dt>
            <dd className="tnum" data-testid="request-images">
              {(r.images ?? 0).toLocaleString()}
            </dd>
          </>
        )}
        {r.instance && (
          <>
            <dt>Instance</dt>
            <dd className="mono" data-testid="request-instance" title="The Switchboard instance that served this request">
              {r.instance}
            </dd>
          </>
        )}
        <dt>ID</dt>
        <dd className="mono faint">{r.id}</dd>
      </dl>
      {r.error && (
        <div className="callout" role="note">
          <div className="mono small" data-testid="request-error">
            {r.error}
          </div>
        </div>
      )}
      <div className="col">
        <h3>Attempts</h3>
        <AttemptChain r={r} keys={keys} />
      </div>
    </div>
  );
}
