import { useState } from "react";
import { Eraser, Radar } from "lucide-react";
import { api, must } from "../api/client";
import type { KeyView } from "../api/types";
import { invalidate, setQueryData } from "../lib/query";
import { useToast } from "./Toasts";

function replaceKey(k: KeyView) {
  setQueryData<KeyView[]>("keys", (keys) => keys?.map((x) => (x.id === k.id ? k : x)));
  invalidate("keys", "status", "plan");
}

/** Probe now / clear cooldown buttons for one key. */
export function KeyActions({ k, compact }: { k: KeyView; compact?: boolean }) {
  const toast = useToast();
  const [busy, setBusy] = useState<string | null>(null);
  const run = async (what: "probe" | "clear") => {
    setBusy(what);
    try {
      const path = what === "probe" ? "/api/v1/keys/{id}/probe" : "/api/v1/keys/{id}/clear";
      const view = await must(api.POST(path, { params: { path: { id: k.id } } }));
      replaceKey(view);
      if (what === "probe") {
        if (view.state === "healthy") toast.ok(`Key “${k.label}” answered: healthy`);
        else toast.error(`Key “${k.label}” is ${view.state.replace("_", " ")}${view.reason ? ` (${view.reason.replace(/_/g, " ")})` : ""}`);
      } else toast.ok(`Cleared the health of “${k.label}”`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  };
  const unhealthy = k.state !== "healthy" && k.state !== "disabled";
  return (
    <div className="row">
      <button type="button" className="btn sm" onClick={() => run("probe")} disabled={busy !== null || !k.enabled} title="Send a cheap request with this key now" aria-label={`Probe ${k.label} now`}>
        <Radar size={13} />
        {!compact && <span>{busy === "probe" ? "Probing…" : "Probe"}</span>}
      </button>
      <button type="button" className="btn sm" onClick={() => run("clear")} disabled={busy !== null || !unhealthy} title="Forget this key's cooldown or error" aria-label={`Clear cooldown of ${k.label}`}>
        <Eraser size={13} />
        {!compact && <span>Clear</span>}
      </button>
    </div>
  );
}
