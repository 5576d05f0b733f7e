import { useState } from "react";
import { Eraser, Radar } from "lucide-react";
import { api, must } from "../api/client";
import type { KeyTest, KeyView } from "../api/types";
import { formatMs, humanize } from "../lib/format";
import { invalidate, setQueryData } from "../lib/query";
import { useToast } from "./Toasts";

function replaceKey(k: KeyView) {
  setQueryData<KeyView[]>("keys", (keys) => keys?.map((x) => (x.id === k.id ? k : x)));
  invalidate("keys", "status", "plan");
}

/** Probe now / clear cooldown buttons for one key. */
/** What a key's problem is, in the words a user acts on: a revoked key, an exhausted quota
 * (a 429 that says so or resets in more than an hour), an empty balance, a rate limit. */
export function keyProblem(k: KeyView, nowMs: number): string | null {
  if (k.state === "auth_error") return `revoked or invalid key${k.last_error?.status ? ` (${k.last_error.status})` : ""}`;
  if (k.reason === "insufficient_balance") return k.last_error?.status === 429 ? "quota exhausted" : "out of balance";
  if (k.reason === "rate_limited") {
    const long = k.until_ms !== null && k.until_ms !== undefined && k.until_ms - nowMs > 3_600_000;
    return long || /quota|exhausted/i.test(k.last_error?.message ?? "") ? "quota exhausted" : "rate limited";
  }
  return k.reason ? humanize(k.reason) : null;
}

/** Under a key's state: its problem, and what the provider last said about it. */
export function KeyWhy({ k, withModel }: { k: KeyView; withModel?: boolean }) {
  const problem = keyProblem(k, Date.now());
  const said = k.last_error;
  return (
    <>
      {problem && (
        <span className="small faint" data-testid="key-problem" style={{ overflowWrap: "anywhere" }}>
          {problem}
          {withModel && k.model ? ` · ${k.model}` : ""}
        </span>
      )}
      {said && (
        <span className="small key-said" data-testid="key-said" title="What the provider said (secrets removed)">
          {said.status ? `HTTP ${said.status}` : "no answer"}
          {said.message ? ` · ${said.message}` : ""}
          {said.retry_after_ms ? ` · resets in ${formatMs(said.retry_after_ms)}` : ""}
        </span>
      )}
    </>
  );
}

/** A toast line for a tested key: healthy, or why not in the provider's words. */
export function testedLine(t: KeyTest): string {
  const a = t.answer;
  if (!a) return `Key “${t.key.label}” was not tested (disabled or gone)`;
  if (a.outcome === "ok") return `Key “${t.key.label}” works (HTTP ${a.status})`;
  const said = a.message ? `: ${a.message}` : "";
  return `Key “${t.key.label}”: ${a.status ? `HTTP ${a.status} · ` : ""}${humanize(a.outcome)}${said}`;
}

export function KeyActions({ k, compact }: { k: KeyView; compact?: boolean }) {
  const toast = useToast();
  const [busy, setBusy] = useState<string | null>(null);
  const run = async (what: "probe" | "clear") => {
    setBusy(what);
    try {
      if (what === "probe") {
        const tested = await must(api.POST("/api/v1/keys/{id}/test", { params: { path: { id: k.id } } }));
        replaceKey(tested.key);
        if (tested.answer?.outcome === "ok") toast.ok(testedLine(tested));
        else toast.error(testedLine(tested));
      } else {
        replaceKey(await must(api.POST("/api/v1/keys/{id}/clear", { params: { path: { id: k.id } } })));
        toast.ok(`Cleared the health of “${k.label}”`);
      }
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  };
  const unhealthy = k.state !== "healthy" && k.state !== "untested" && k.state !== "disabled";
  return (
    <div className="row">
      <button type="button" className="btn sm" onClick={() => run("probe")} disabled={busy !== null || !k.enabled} title="Test connection: send a cheap request with this key now" aria-label={`Test ${k.label} now`}>
        <Radar size={13} />
        {!compact && <span>{busy === "probe" ? "Testing…" : "Test"}</span>}
      </button>
      <button type="button" className="btn sm" onClick={() => run("clear")} disabled={busy !== null || !unhealthy} title={`Clear cooldown: forget the cooldown or error of ${k.label}`} aria-label={`Clear cooldown of ${k.label}`}>
        <Eraser size={13} />
        {!compact && <span>Clear</span>}
      </button>
    </div>
  );
}
