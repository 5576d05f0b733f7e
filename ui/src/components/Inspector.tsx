// The request inspector in the dashboard: the control that opens a capture window (all
// requests or one route, 15 minutes by default), and a captured request's four parts in the
// request detail — bodies as pretty JSON, streams as an event timeline, the client vs.
// upstream request as a diff — with replay in the Playground, cURL and the bug report.

import { useState } from "react";
import { Download, Play, ScanSearch, Square } from "lucide-react";
import { api, errorMessage, must } from "../api/client";
import { useRoutes } from "../api/queries";
import type { CapturedAttempt, CapturedEvent, CapturedMessage, CaptureView, InspectorView } from "../api/types";
import { invalidate, useQuery } from "../lib/query";
import { navigate } from "../lib/router";
import { remember } from "../lib/persist";
import { diffStats, lineDiff, prettyJson } from "../lib/jsondiff";
import { formatCountdown } from "../lib/format";
import { useNow } from "../lib/now";
import { DiffView } from "./DiffView";
import { useToast } from "./Toasts";
import { CopyButton, Pill } from "./ui";

const INSPECTOR = "inspector";

/** What the Playground opens with when a captured request is replayed. */
export interface PlaygroundReplay {
  dialect: string;
  path: string;
  body: string;
  model: string;
}
export const REPLAY_KEY = "pg.replay";

/** Open capture windows and the form that opens one. */
export function CaptureControl() {
  const toast = useToast();
  const routes = useRoutes();
  const view = useQuery<InspectorView>(INSPECTOR, () => must(api.GET("/api/v1/inspector")));
  const [route, setRoute] = useState("");
  const [minutes, setMinutes] = useState(15);
  const [busy, setBusy] = useState(false);
  const now = useNow();
  const open = (view.data?.windows ?? []).filter((w) => w.until_ms > now);
  const start = async () => {
    setBusy(true);
    try {
      await must(api.POST("/api/v1/inspector/capture", { body: { route: route || null, minutes } }));
      toast.ok(`Capturing ${route ? `requests for ${route}` : "every request"} for ${minutes} minutes`);
      invalidate(INSPECTOR);
    } catch (e) {
      toast.error(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  const stop = async (r: string | null | undefined) => {
    try {
      await must(api.DELETE("/api/v1/inspector/capture", { params: { query: r ? { route: r } : {} } }));
      invalidate(INSPECTOR);
    } catch (e) {
      toast.error(errorMessage(e));
    }
  };
  return (
    <div className="row wrap" data-testid="capture-control">
      {open.map((w) => (
        <Pill key={w.route ?? "*"} color="blue" title="Requests are being captured (bodies and streams, secrets removed)">
          <span className="dot" /> Capturing {w.route ?? "all"} · {formatCountdown(w.until_ms - now)}
          <button type="button" className="btn ghost sm icon" aria-label={`Stop capturing ${w.route ?? "all requests"}`} title={`Stop capturing ${w.route ?? "all requests"}`} onClick={() => stop(w.route)}>
            <Square size={11} />
          </button>
        </Pill>
      ))}
      <select className="select" aria-label="Capture scope" value={route} onChange={(e) => setRoute(e.target.value)}>
        <option value="">All requests</option>
        {(routes.data ?? []).map((r) => (
          <option key={r.alias} value={r.alias}>
            {r.alias}
          </option>
        ))}
      </select>
      <label className="row" style={{ gap: 6 }} title="How long the capture window stays open">
        <input className="input" style={{ width: 64 }} type="number" min={1} max={1440} aria-label="Capture minutes" value={minutes} onChange={(e) => setMinutes(Math.max(1, Number(e.target.value) || 15))} />
        <span className="faint small">min</span>
      </label>
      <button type="button" className="btn" onClick={start} disabled={busy}>
        <ScanSearch size={14} /> Capture
      </button>
    </div>
  );
}

function Body({ msg, label }: { msg?: CapturedMessage | null; label: string }) {
  if (!msg) return <p className="faint small">Nothing was received.</p>;
  return (
    <div className="stack" style={{ gap: 6 }}>
      <div className="small faint mono">
        {msg.method ? `${msg.method} ` : ""}
        {msg.url ?? ""}
        {msg.status !== null && msg.status !== undefined ? ` → ${msg.status}` : ""}
        {msg.truncated ? " · cut at the size cap" : ""}
      </div>
      {msg.headers.length > 0 && (
        <details>
          <summary className="small">Headers ({msg.headers.length})</summary>
          <pre className="code small">{msg.headers.map((h) => `${h.name}: ${h.value}`).join("\n")}</pre>
        </details>
      )}
      {msg.events && msg.events.length > 0 ? (
        <Timeline events={msg.events} label={label} />
      ) : msg.body !== null && msg.body !== undefined ? (
        <pre className="code small" aria-label={label}>
          {prettyJson(msg.body)}
        </pre>
      ) : null}
    </div>
  );
}

/** A stream's events with their times after the request arrived. */
function Timeline({ events, label }: { events: CapturedEvent[]; label: string }) {
  return (
    <ol className="timeline small" aria-label={label} data-testid="event-timeline">
      {events.map((e, i) => (
        <li key={i} className="row" style={{ alignItems: "flex-start", gap: 8 }}>
          <span className="tnum faint" style={{ minWidth: 56, textAlign: "right" }}>
            +{e.at_ms} ms
          </span>
          {e.event && <span className="mono">{e.event}</span>}
          <span className="mono faint" style={{ overflowWrap: "anywhere" }}>
            {e.data}
          </span>
        </li>
      ))}
    </ol>
  );
}

/** The attempt shown: the committed one, else the last. */
function shownAttempt(attempts: CapturedAttempt[]): number {
  const i = attempts.findIndex((a) => a.committed);
  return i >= 0 ? i : attempts.length - 1;
}

/** A captured request in the request detail, or a note that it was not captured. */
export function CapturePanel({ requestId }: { requestId: string }) {
  const toast = useToast();
  const q = useQuery<CaptureView>(`capture:${requestId}`, () => must(api.GET("/api/v1/captures/{id}", { params: { path: { id: requestId } } })));
  const [pick, setPick] = useState<number | null>(null);
  if (q.loading && !q.data) return <p className="faint small">Looking for a capture…</p>;
  if (!q.data) return <p className="faint small" data-testid="no-capture">Not captured. Start a capture above to keep the bodies of the next requests.</p>;
  const { capture, replay } = q.data;
  const attempts = capture.attempts;
  const ai = pick ?? shownAttempt(attempts);
  const attempt = attempts[ai];
  const diff = attempt ? lineDiff(prettyJson(capture.client_request.body), prettyJson(attempt.request.body), ["client request", `upstream request (${attempt.provider})`]) : "";
  const stats = diffStats(diff);
  const openInPlayground = () => {
    const r: PlaygroundReplay = { dialect: replay.dialect, path: replay.path, body: prettyJson(replay.body), model: capture.model };
    remember(REPLAY_KEY, r);
    navigate("/playground");
  };
  const download = async () => {
    try {
      const report = await must(api.GET("/api/v1/captures/{id}/report", { params: { path: { id: requestId } } }));
      const blob = new Blob([JSON.stringify(report, null, 2) + "\n"], { type: "application/json" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `switchboard-request-${requestId}.json`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    } catch (e) {
      toast.error(errorMessage(e));
    }
  };
  return (
    <div className="stack" data-testid="capture">
      <div className="row wrap">
        <button type="button" className="btn primary sm" onClick={openInPlayground}>
          <Play size={13} /> Replay in Playground
        </button>
        <CopyButton text={replay.curl} label="Copy as cURL" small />
        <button type="button" className="btn sm" onClick={download}>
          <Download size={13} /> Download bug report
        </button>
      </div>
      <p className="faint small">Keys and auth headers are removed before a capture is stored; cURL uses $SWITCHBOARD_ACCESS_KEY.</p>
      <section className="col">
        <h4>Client request</h4>
        <Body msg={capture.client_request} label="Client request body" />
      </section>
      {attempts.length > 1 && (
        <label className="field">
          <span>Attempt</span>
          <select className="select" aria-label="Attempt" value={ai} onChange={(e) => setPick(Number(e.target.value))}>
            {attempts.map((a, i) => (
              <option key={i} value={i}>
                {i + 1}. {a.provider} {a.model} {a.response?.status ?? ""} {a.committed ? "(served)" : ""}
              </option>
            ))}
          </select>
        </label>
      )}
      {attempt && (
        <>
          <section className="col" data-testid="capture-diff">
            <h4>
              Client vs. upstream request{" "}
              <span className="small faint">
                +{stats.added} −{stats.removed} lines
              </span>
            </h4>
            <DiffView diff={diff} />
          </section>
          <section className="col">
            <h4>Upstream request</h4>
            <Body msg={attempt.request} label="Upstream request body" />
          </section>
          <section className="col">
            <h4>Upstream response</h4>
            <Body msg={attempt.response} label="Upstream response" />
          </section>
        </>
      )}
      <section className="col">
        <h4>What the client received</h4>
        <Body msg={capture.client_response} label="Client response" />
      </section>
    </div>
  );
}
