// Settings → Export and import: the configuration as a file or a copyable `sbx1.` token (API
// keys only when asked for, sealed with a passphrase), and import with a preview of every
// change before anything is written.

import { type ChangeEvent, useState } from "react";
import { Download, FileUp, KeyRound } from "lucide-react";
import { Card, Pill } from "./ui";
import { Dialog } from "./Dialog";
import { useToast } from "./Toasts";
import { api, must } from "../api/client";
import type { components } from "../api/schema";
import { invalidate } from "../lib/query";
import "./diff.css";

type S = components["schemas"];
type ImportPlan = S["ImportPlan"];
type Change = S["Change"];

const CHANGE: Record<Change, { label: string; color: string }> = {
  added: { label: "Added", color: "green" },
  changed: { label: "Changed", color: "blue" },
  unchanged: { label: "Unchanged", color: "" },
  needs_secret: { label: "Needs its key", color: "amber" },
  kept: { label: "Kept", color: "" },
};

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function ExportImport() {
  return (
    <Card title="Export and import" icon={<Download size={16} />}>
      <div className="card-body stack">
        <ExportPart />
        <ImportPart />
      </div>
    </Card>
  );
}

function ExportPart() {
  const toast = useToast();
  const [withSecrets, setWithSecrets] = useState(false);
  const [pass, setPass] = useState("");
  const [pass2, setPass2] = useState("");
  const [busy, setBusy] = useState(false);
  const passError = withSecrets && pass.length > 0 && pass.length < 8 ? "At least 8 characters" : withSecrets && pass2 && pass !== pass2 ? "The passphrases differ" : "";
  const ready = !withSecrets || (pass.length >= 8 && pass === pass2);
  const fetchExport = async () => {
    setBusy(true);
    try {
      return await must(api.POST("/api/v1/config/export", { body: { with_secrets: withSecrets, passphrase: withSecrets ? pass : null } }));
    } catch (e) {
      toast.error(errorText(e));
      return null;
    } finally {
      setBusy(false);
    }
  };
  const download = async () => {
    const r = await fetchExport();
    if (!r) return;
    const blob = new Blob([JSON.stringify(r.export, null, 2) + "\n"], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = r.file_name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    toast.ok(withSecrets ? "Exported, API keys sealed with your passphrase" : "Exported without API keys");
  };
  const copyToken = async () => {
    const r = await fetchExport();
    if (!r) return;
    try {
      await navigator.clipboard.writeText(r.token);
      toast.ok("Export token copied");
    } catch {
      toast.error("The clipboard is not available here; download the file instead");
    }
  };
  return (
    <div className="stack">
      <p className="muted small">Providers, keys, routes and settings. API keys are left out unless you include them; then they are encrypted with a passphrase (Argon2id + XChaCha20-Poly1305).</p>
      <label className="check">
        <input type="checkbox" checked={withSecrets} onChange={(e) => setWithSecrets(e.target.checked)} />
        <KeyRound size={14} /> Include API keys (encrypted)
      </label>
      {withSecrets && (
        <div className="form-grid">
          <label className="field">
            <span>Passphrase</span>
            <input className="input" type="password" autoComplete="new-password" value={pass} onChange={(e) => setPass(e.target.value)} />
          </label>
          <label className="field">
            <span>Repeat passphrase</span>
            <input className="input" type="password" autoComplete="new-password" value={pass2} onChange={(e) => setPass2(e.target.value)} />
            {passError && <span className="field-error">{passError}</span>}
          </label>
        </div>
      )}
      <div className="row wrap">
        <button type="button" className="btn" onClick={download} disabled={busy || !ready}>
          <Download size={14} /> Download file
        </button>
        <button type="button" className="btn" onClick={copyToken} disabled={busy || !ready}>
          Copy token
        </button>
      </div>
    </div>
  );
}

function ImportPart() {
  const toast = useToast();
  const [data, setData] = useState("");
  const [pass, setPass] = useState("");
  const [plan, setPlan] = useState<ImportPlan | null>(null);
  const [busy, setBusy] = useState(false);
  // An import that points existing providers at other servers would send their keys there:
  // it is applied only after the user ticks that they accept each new host.
  const [acceptHosts, setAcceptHosts] = useState(false);
  const hostChanges = plan?.host_changes ?? [];
  const body = () => ({ data, passphrase: pass || null });
  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = "";
    if (file) setData(await file.text());
  };
  const sealed = data.includes('"sealed"') || (data.trim().startsWith("sbx1.") && pass.length > 0);
  const preview = async () => {
    setBusy(true);
    try {
      setAcceptHosts(false);
      setPlan(await must(api.POST("/api/v1/config/import/plan", { body: body() })));
    } catch (e) {
      toast.error(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const apply = async () => {
    setBusy(true);
    try {
      const done = await must(api.POST("/api/v1/config/import/apply", { body: { ...body(), accept_new_hosts: acceptHosts } }));
      invalidate("providers", "routes", "settings", "cooldowns", "status", "keys", "plan");
      const count = (c: Change) => [...done.providers, ...done.routes, ...done.settings, ...done.keys].filter((i) => i.change === c).length;
      const missing = count("needs_secret");
      toast.ok(`Imported: ${count("added")} added, ${count("changed")} changed${missing ? `; ${missing} key(s) need their secret on Providers` : ""}`);
      setPlan(null);
      setData("");
      setPass("");
    } catch (e) {
      toast.error(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const changes = plan ? [...plan.providers, ...plan.routes, ...plan.settings, ...plan.keys].filter((i) => i.change === "added" || i.change === "changed").length : 0;
  return (
    <div className="stack">
      <div className="field">
        <span>Import a file or paste a token</span>
        <textarea className="textarea mono" rows={3} placeholder="sbx1.… or the exported JSON" value={data} onChange={(e) => setData(e.target.value)} aria-label="Export to import" />
      </div>
      <div className="row wrap">
        <label className="btn">
          <FileUp size={14} /> Choose file
          <input type="file" accept="application/json,.json,.txt" className="sr-only" onChange={onFile} />
        </label>
        <input
          className="input"
          type="password"
          autoComplete="off"
          placeholder={sealed ? "Passphrase (needed)" : "Passphrase"}
          title="The passphrase the export was sealed with, if it includes keys"
          aria-label="Import passphrase"
          value={pass}
          onChange={(e) => setPass(e.target.value)}
        />
        <button type="button" className="btn primary" onClick={preview} disabled={busy || !data.trim()}>
          {busy && !plan ? "Reading…" : "Preview import"}
        </button>
      </div>
      {plan && (
        <Dialog
          wide
          title="Import: what will change"
          onClose={() => setPlan(null)}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setPlan(null)}>
                Cancel
              </button>
              <button type="button" className="btn primary" onClick={apply} disabled={busy || changes === 0 || (hostChanges.length > 0 && !acceptHosts)} data-autofocus>
                {busy ? "Importing…" : changes === 0 ? "Nothing to change" : `Apply ${changes} change(s)`}
              </button>
            </>
          }
        >
          <div className="stack">
            {hostChanges.length > 0 && (
              <div className="stack" role="alert" aria-label="New provider hosts">
                <strong className="small">These providers would send their keys to another server</strong>
                <ul className="plan-list">
                  {hostChanges.map((h) => (
                    <li key={h.provider}>
                      <Pill color="red">New host</Pill>
                      <span className="mono">{h.provider}</span>
                      <span className="fields">
                        {h.from} → {h.to}
                      </span>
                    </li>
                  ))}
                </ul>
                <label className="row small">
                  <input type="checkbox" checked={acceptHosts} onChange={(e) => setAcceptHosts(e.target.checked)} />I trust these hosts with the keys of these providers
                </label>
              </div>
            )}
            <PlanSection title="Providers" items={plan.providers.map((i) => ({ name: i.name, change: i.change, fields: i.fields ?? [] }))} />
            <PlanSection
              title="Keys"
              items={plan.keys.map((k) => ({ name: `${k.provider} / ${k.label}${k.env_ref ? ` (${k.env_ref})` : k.last4 ? ` (…${k.last4})` : ""}`, change: k.change, fields: k.fields ?? [] }))}
            />
            <PlanSection title="Routes" items={plan.routes.map((i) => ({ name: i.name, change: i.change, fields: i.fields ?? [] }))} />
            <PlanSection title="Settings" items={plan.settings.map((i) => ({ name: i.name, change: i.change, fields: i.fields ?? [] }))} />
            <p className="faint small">Nothing here is deleted: what this Switchboard has and the export lacks is kept. Keys exported without their secret are listed, not imported.</p>
          </div>
        </Dialog>
      )}
    </div>
  );
}

function PlanSection({ title, items }: { title: string; items: { name: string; change: Change; fields: string[] }[] }) {
  return (
    <div className="stack">
      <strong className="small">{title}</strong>
      {items.length === 0 ? (
        <span className="faint small">None</span>
      ) : (
        <ul className="plan-list">
          {items.map((i, n) => (
            <li key={n}>
              <Pill color={CHANGE[i.change].color}>{CHANGE[i.change].label}</Pill>
              <span className="mono">{i.name}</span>
              {i.fields.length > 0 && <span className="fields">{i.fields.join(", ")}</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
