import { type FormEvent, useEffect, useRef } from "react";
import { usePersistent } from "../lib/persist";
import { FlaskConical, Send, Square } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, EmptyState, Pill } from "../components/ui";
import { RequestDetail } from "../components/RequestDetail";
import { apiBase, api, must } from "../api/client";
import { useAccessKey, useKeys, useProviders, useRoutes } from "../api/queries";
import type { RequestRecord } from "../api/types";
import { buildRequest, CLIENT_DIALECTS, type Dialect, errorOfBody, readEvent } from "../lib/dialects";
import { readSse } from "../lib/sse";
import { subscribeRequests } from "../lib/live";
import { formatMs } from "../lib/format";
import { Link } from "../lib/router";
import { type PlaygroundReplay, REPLAY_KEY } from "../components/Inspector";
import { prettyJson } from "../lib/jsondiff";

type Phase = "idle" | "waiting" | "streaming" | "done" | "error";

export function Playground() {
  const routes = useRoutes();
  const providers = useProviders();
  const keys = useKeys();
  const access = useAccessKey();
  const [alias, setAlias] = usePersistent("pg.alias", "");
  const [dialect, setDialect] = usePersistent<Dialect>("pg.dialect", "openai_chat");
  const [dialectTouched, setDialectTouched] = usePersistent("pg.dialectTouched", false);
  const [prompt, setPrompt] = usePersistent("pg.prompt", "Say hello in one short sentence.");
  const [system, setSystem] = usePersistent("pg.system", "");
  const [answer, setAnswer] = usePersistent("pg.answer", "");
  const [reasoning, setReasoning] = usePersistent("pg.reasoning", "");
  const [phase, setPhase] = usePersistent<Phase>("pg.phase", "idle");
  const [error, setError] = usePersistent<string | null>("pg.error", null);
  const [timing, setTiming] = usePersistent<{ ttfb?: number; total?: number }>("pg.timing", {});
  const [record, setRecord] = usePersistent<RequestRecord | null>("pg.record", null);
  // A captured client request opened from the request log ("Replay in Playground"): sent as
  // it is (editable), instead of a request built from the prompt.
  const [replay, setReplay] = usePersistent<PlaygroundReplay | null>(REPLAY_KEY, null);
  const abort = useRef<AbortController | null>(null);
  const got = useRef(false);

  useEffect(() => {
    if (!replay) return;
    setAlias(replay.model);
    if (CLIENT_DIALECTS.some((d) => d.id === replay.dialect)) setDialect(replay.dialect as Dialect);
    setDialectTouched(true);
  }, [replay?.path, replay?.model, replay?.dialect]);

  const aliases = [...new Set([...(routes.data ?? []).map((r) => r.alias), ...(providers.data ?? []).flatMap((p) => (p.models ?? []).map((m) => m.id))])];
  useEffect(() => {
    if (!alias && aliases.length) setAlias(aliases[0]);
  }, [alias, aliases]);
  // Until every dialect pair is translated, default to the dialect of the provider serving the alias.
  useEffect(() => {
    if (dialectTouched || !alias) return;
    const route = routes.data?.find((r) => r.alias === alias);
    const provName = route?.targets[0]?.provider ?? providers.data?.find((p) => (p.models ?? []).some((m) => m.id === alias))?.name;
    const kind = providers.data?.find((p) => p.name === provName)?.kind;
    if (kind && CLIENT_DIALECTS.some((d) => d.id === kind)) setDialect(kind as Dialect);
  }, [alias, routes.data, providers.data, dialectTouched]);

  const send = async (e: FormEvent) => {
    e.preventDefault();
    if (!access.data || !alias.trim()) return;
    abort.current?.abort();
    const ctl = new AbortController();
    abort.current = ctl;
    setAnswer("");
    setReasoning("");
    setError(null);
    setRecord(null);
    setTiming({});
    setPhase("waiting");
    got.current = false;
    const started = Date.now();
    const t0 = performance.now();
    // The router's record of this request arrives on the live feed when it finishes.
    const unsubscribe = subscribeRequests((r) => {
      if (r.alias === alias.trim() && r.started_at_ms >= started - 2000) {
        got.current = true;
        setRecord(r);
        unsubscribe();
      }
    });
    const built = buildRequest(dialect, alias.trim(), prompt, system);
    const req = replay ? { path: replay.path, headers: built.headers, body: replay.body } : { ...built, body: JSON.stringify(built.body) };
    try {
      const resp = await fetch(apiBase() + req.path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${access.data.access_key}`, Accept: "text/event-stream", ...req.headers },
        body: req.body,
        signal: ctl.signal,
      });
      setTiming({ ttfb: performance.now() - t0 });
      if (!resp.ok || !resp.body) {
        setError(`${resp.status}: ${errorOfBody(await resp.text())}`);
        setPhase("error");
      } else if (!(resp.headers.get("content-type") ?? "").includes("text/event-stream")) {
        // A replayed request that did not ask for a stream: its whole answer.
        setAnswer(prettyJson(await resp.text()));
        setTiming((t) => ({ ...t, total: performance.now() - t0 }));
        setPhase("done");
      } else {
        setPhase("streaming");
        let failed = false;
        await readSse(
          resp.body,
          (ev) => {
            const piece = readEvent(dialect, ev);
            if (piece.text) setAnswer((a) => a + piece.text);
            if (piece.reasoning) setReasoning((a) => a + piece.reasoning);
            if (piece.error) {
              failed = true;
              setError(piece.error);
            }
          },
          ctl.signal,
        );
        setTiming((t) => ({ ...t, total: performance.now() - t0 }));
        setPhase(failed ? "error" : "done");
      }
    } catch (err) {
      if (ctl.signal.aborted) {
        setPhase("idle");
        unsubscribe();
        return;
      }
      setError(err instanceof Error ? err.message : String(err));
      setPhase("error");
    }
    // If the live feed missed it, look it up in the log.
    setTimeout(async () => {
      unsubscribe();
      if (got.current) return;
      try {
        const rs = await must(api.GET("/api/v1/requests", { params: { query: { alias: alias.trim(), since_ms: started - 2000, limit: 1 } } }));
        if (rs[0] && !got.current) setRecord(rs[0]);
      } catch {
        /* the log is best effort here */
      }
    }, 1500);
  };

  const busy = phase === "waiting" || phase === "streaming";
  const noSetup = providers.data && providers.data.length === 0;
  return (
    <>
      <PageHeader title="Playground" />
      <div className="content">
        {noSetup ? (
          <Card>
            <EmptyState icon={<FlaskConical size={22} />} title="Nothing to talk to yet" action={<Link to="/providers?add=1" className="btn primary">Add a provider</Link>}>
              The playground sends a prompt through Switchboard, just like your tools do. Add a provider first.
            </EmptyState>
          </Card>
        ) : (
          <div className="playground">
            <Card title="Request">
              <form className="card-body stack" onSubmit={send}>
                <label className="field">
                  <span>Model or alias</span>
                  <input className="input mono" list="pg-aliases" value={alias} onChange={(e) => setAlias(e.target.value)} placeholder="gpt-5.5" data-testid="pg-alias" />
                  <datalist id="pg-aliases">
                    {aliases.map((a) => (
                      <option key={a} value={a} />
                    ))}
                  </datalist>
                </label>
                <div className="field">
                  <span>Client dialect</span>
                  <select
                    className="select"
                    value={dialect}
                    aria-label="Client dialect"
                    onChange={(e) => {
                      setDialect(e.target.value as Dialect);
                      setDialectTouched(true);
                    }}
                  >
                    {CLIENT_DIALECTS.map((d) => (
                      <option key={d.id} value={d.id}>
                        {d.label}
                      </option>
                    ))}
                  </select>
                  <span className="hint mono">POST {replay ? replay.path : CLIENT_DIALECTS.find((d) => d.id === dialect)?.path.replace("{model}", alias || "…")}</span>
                </div>
                {replay ? (
                  <label className="field">
                    <span>Captured request body</span>
                    <textarea className="textarea mono small" rows={14} value={replay.body} onChange={(e) => setReplay({ ...replay, body: e.target.value })} data-testid="pg-replay-body" />
                    <span className="hint">
                      Replaying a captured request as its client sent it.{" "}
                      <button type="button" className="btn ghost sm" onClick={() => setReplay(null)}>
                        Write a prompt instead
                      </button>
                    </span>
                  </label>
                ) : (
                  <>
                  <label className="field">
                    <span>System prompt (optional)</span>
                    <input className="input" value={system} onChange={(e) => setSystem(e.target.value)} />
                  </label>
                  <label className="field">
                    <span>Prompt</span>
                    <textarea
                      className="textarea"
                      rows={5}
                      value={prompt}
                      onChange={(e) => setPrompt(e.target.value)}
                      onKeyDown={(e) => {
                        if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) (e.currentTarget.form as HTMLFormElement | null)?.requestSubmit();
                      }}
                    />
                    <span className="hint">Ctrl/⌘ + Enter sends.</span>
                  </label>
                  </>
                )}
                <div className="row">
                  {busy ? (
                    <button type="button" className="btn" onClick={() => abort.current?.abort()}>
                      <Square size={13} /> Stop
                    </button>
                  ) : (
                    <button type="submit" className="btn primary" disabled={!access.data || !alias.trim() || !(replay ? replay.body.trim() : prompt.trim())}>
                      <Send size={14} /> Send
                    </button>
                  )}
                </div>
              </form>
            </Card>
            <div className="stack">
              <Card
                title="Answer"
                actions={
                  <div className="row small faint tnum">
                    {timing.ttfb !== undefined && <span>TTFB {formatMs(timing.ttfb)}</span>}
                    {timing.total !== undefined && <span>· total {formatMs(timing.total)}</span>}
                    {phase === "streaming" && (
                      <Pill color="blue">
                        <span className="dot" /> streaming
                      </Pill>
                    )}
                    {phase === "done" && <Pill color="green">done</Pill>}
                    {phase === "error" && <Pill color="red">failed</Pill>}
                  </div>
                }
              >
                {reasoning && <div className="answer muted small" style={{ borderBottom: "1px solid var(--border)", minHeight: 0 }}>{reasoning}</div>}
                <div className="answer" data-testid="pg-answer" aria-live="polite">
                  {answer}
                  {busy && <span className="cursor" aria-hidden="true" />}
                  {phase === "idle" && !answer && <span className="faint">The streamed answer appears here.</span>}
                </div>
                {error && (
                  <div className="card-body" style={{ paddingTop: 0 }}>
                    <div className="callout" role="alert">
                      <div className="mono small" data-testid="pg-error">
                        {error}
                      </div>
                    </div>
                  </div>
                )}
              </Card>
              <Card title="How it was served">
                <div className="card-body" data-testid="pg-served">
                  {record ? <RequestDetail r={record} keys={keys.data} /> : <span className="faint small">{busy ? "Waiting for the request to finish…" : "Send a request to see which target and key served it, and the attempts before it."}</span>}
                </div>
              </Card>
            </div>
          </div>
        )}
      </div>
    </>
  );
}
