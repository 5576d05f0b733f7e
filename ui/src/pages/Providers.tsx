import { type FormEvent, useEffect, useMemo, useState } from "react";
import { Boxes, KeyRound, Loader2, Pencil, Plug, Plus, RefreshCw, Server, Trash2 } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, EmptyState, ErrorNote, Pill, SkeletonRows, StatePill, Switch } from "../components/ui";
import { ConfirmDialog, Dialog } from "../components/Dialog";
import { useToast } from "../components/Toasts";
import { KeyActions, KeyWhy, testedLine } from "../components/KeyActions";
import { KeyQuota } from "../components/KeyQuota";
import { api, must } from "../api/client";
import { useKeys, usePresets, useProviders } from "../api/queries";
import { CacheHitRate } from "../components/CacheHitRate";
import { DEFAULT_QUIRKS, QuirksFields } from "../components/QuirksFields";
import { type ProviderNetwork, ProviderNetworkFields } from "../components/NetworkFields";
import type { KeyView, Preset, Provider } from "../api/types";
import { invalidate } from "../lib/query";
import { keyShown } from "../lib/format";
import { setQuery, useLocation } from "../lib/router";
import { parseFocus } from "../lib/deeplink";

export const DIALECTS: { id: string; label: string }[] = [
  { id: "openai_chat", label: "OpenAI Chat Completions" },
  { id: "openai_responses", label: "OpenAI Responses" },
  { id: "anthropic", label: "Anthropic Messages" },
  { id: "gemini", label: "Google Gemini" },
];

export const dialectLabel = (id: string) => DIALECTS.find((d) => d.id === id)?.label ?? id;

export function Providers() {
  const providers = useProviders();
  const keys = useKeys();
  const { query } = useLocation();
  const adding = query.get("add") === "1";
  const setAdding = (v: boolean) => setQuery({ add: v ? "1" : null });
  // `?focus=3,5`: the keys a desktop notification named, highlighted and scrolled to.
  const focusParam = query.get("focus");
  const focus = useMemo(() => new Set(parseFocus(focusParam)), [focusParam]);
  const keysLoaded = keys.data !== undefined;
  useEffect(() => {
    if (keysLoaded && focus.size) document.querySelector('tr[data-focused="true"]')?.scrollIntoView({ block: "center" });
  }, [focus, keysLoaded]);
  return (
    <>
      <PageHeader title="Providers & keys">
        <button type="button" className="btn primary" onClick={() => setAdding(true)}>
          <Plus size={15} /> Add provider
        </button>
      </PageHeader>
      <div className="content">
        {providers.error && !providers.data ? (
          <Card>
            <ErrorNote error={providers.error} onRetry={providers.reload} />
          </Card>
        ) : !providers.data ? (
          <Card>
            <SkeletonRows rows={5} />
          </Card>
        ) : providers.data.length === 0 ? (
          <Card>
            <EmptyState
              icon={<Server size={22} />}
              title="No providers yet"
              action={
                <button type="button" className="btn primary" onClick={() => setAdding(true)}>
                  <Plus size={15} /> Add a provider
                </button>
              }
            >
              A provider is an API Switchboard forwards requests to: OpenAI, Anthropic, Gemini, DeepSeek, OpenRouter, a local Ollama or any OpenAI-compatible server. Pick a preset, paste a key, done.
            </EmptyState>
          </Card>
        ) : (
          providers.data.map((p) => <ProviderCard key={p.name} p={p} keys={(keys.data ?? []).filter((k) => k.provider === p.name)} keysLoading={!keys.data} focus={focus} />)
        )}
      </div>
      {adding && <AddProviderDialog onClose={() => setAdding(false)} />}
    </>
  );
}

function ProviderCard({ p, keys, keysLoading, focus }: { p: Provider; keys: KeyView[]; keysLoading: boolean; focus: Set<number> }) {
  const toast = useToast();
  const [discovering, setDiscovering] = useState(false);
  const [addingKey, setAddingKey] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [editing, setEditing] = useState(false);
  const enabled = p.enabled ?? true;
  const models = p.models ?? [];
  const [showAll, setShowAll] = useState(false);
  const setEnabled = async (v: boolean) => {
    try {
      await must(api.PUT("/api/v1/providers/{name}", { params: { path: { name: p.name } }, body: { ...p, enabled: v } }));
      invalidate("providers", "keys", "status", "plan");
      toast.ok(`${p.name} ${v ? "enabled" : "disabled"}`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  const discover = async () => {
    setDiscovering(true);
    try {
      const updated = await must(api.POST("/api/v1/providers/{name}/discover", { params: { path: { name: p.name } } }));
      invalidate("providers");
      toast.ok(`Found ${(updated.models ?? []).length} models on ${p.name}`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    } finally {
      setDiscovering(false);
    }
  };
  const [testing, setTesting] = useState(false);
  const testConnection = async () => {
    setTesting(true);
    try {
      const tested = await must(api.POST("/api/v1/providers/{name}/test", { params: { path: { name: p.name } } }));
      invalidate("keys", "status", "plan");
      const bad = tested.filter((t) => t.answer?.outcome !== "ok");
      if (tested.length === 0) toast.error(`${p.name} has no enabled key to test`);
      else if (bad.length === 0) toast.ok(`${p.name}: all ${tested.length} keys work`);
      else for (const t of bad) toast.error(`${p.name} · ${testedLine(t)}`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    } finally {
      setTesting(false);
    }
  };
  const remove = async () => {
    try {
      await must(api.DELETE("/api/v1/providers/{name}", { params: { path: { name: p.name } } }));
      invalidate("providers", "keys", "status", "routes", "plan");
      toast.ok(`Removed ${p.name}`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
    setConfirmDelete(false);
  };
  const shown = showAll ? models : models.slice(0, 18);
  return (
    <section className="card" data-provider={p.name} aria-label={`Provider ${p.name}`}>
      <div className="provider-head">
        <span className="avatar" aria-hidden="true">
          {p.name.trim().slice(0, 1)}
        </span>
        <div className="col spacer" style={{ gap: 1, minWidth: 0 }}>
          <div className="row wrap">
            <span className="provider-name" data-testid="provider-name">
              {p.name}
            </span>
            <span className="tag">{p.kind}</span>
            {!enabled && <Pill>Disabled</Pill>}
            <CacheHitRate provider={p.name} />
          </div>
          <span className="mono faint truncate">{p.base_url}</span>
        </div>
        <div className="row wrap">
          <button type="button" className="btn sm" onClick={discover} disabled={discovering || keys.length === 0} aria-busy={discovering} title={keys.length === 0 ? "Add a key first" : "Read the provider's model list"}>
            {discovering ? <Loader2 size={13} className="spin" /> : <RefreshCw size={13} />}
            <span>{discovering ? "Discovering…" : "Discover models"}</span>
          </button>
          <button type="button" className="btn sm" onClick={testConnection} disabled={testing || keys.length === 0} aria-busy={testing} title={keys.length === 0 ? "Add a key first" : "Test connection: probe every enabled key now"}>
            {testing ? <Loader2 size={13} className="spin" /> : <Plug size={13} />}
            <span>{testing ? "Testing…" : "Test connection"}</span>
          </button>
          <button type="button" className="btn sm" onClick={() => setAddingKey(true)}>
            <KeyRound size={13} /> <span>Add key</span>
          </button>
          <button type="button" className="btn sm ghost icon" aria-label={`Edit ${p.name}`} title={`Edit ${p.name}`} onClick={() => setEditing(true)}>
            <Pencil size={14} />
          </button>
          <Switch checked={enabled} onChange={setEnabled} label={`Enable ${p.name}`} />
          <button type="button" className="btn sm ghost icon" aria-label={`Delete ${p.name}`} title={`Delete ${p.name}`} onClick={() => setConfirmDelete(true)}>
            <Trash2 size={14} />
          </button>
        </div>
      </div>
      {discovering && (
        <div className="progress" role="progressbar" aria-label="Discovering models">
          <div />
        </div>
      )}
      <KeysTable keys={keys} loading={keysLoading} onAdd={() => setAddingKey(true)} focus={focus} />
      <div className="models" aria-label="Models">
        {models.length === 0 ? (
          <span className="faint small">
            <Boxes size={13} style={{ verticalAlign: -2 }} /> No models known yet: discover them, or use any model name in a route.
          </span>
        ) : (
          <>
            {shown.map((m) => (
              <span key={m.id} className="tag" title={m.context_window ? `${m.context_window.toLocaleString()} tokens of context` : undefined}>
                {m.id}
              </span>
            ))}
            {models.length > shown.length && (
              <button type="button" className="btn ghost sm" onClick={() => setShowAll(true)}>
                +{models.length - shown.length} more
              </button>
            )}
          </>
        )}
      </div>
      {addingKey && <AddKeyDialog provider={p.name} hasModels={models.length > 0} onClose={() => setAddingKey(false)} />}
      {editing && <EditProviderDialog p={p} onClose={() => setEditing(false)} />}
      {confirmDelete && (
        <Dialog
          title={`Delete ${p.name}?`}
          onClose={() => setConfirmDelete(false)}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setConfirmDelete(false)}>
                Cancel
              </button>
              <button type="button" className="btn primary" onClick={remove}>
                Delete provider
              </button>
            </>
          }
        >
          <p className="muted">Its keys are deleted too. Routes that point at it will skip it.</p>
        </Dialog>
      )}
    </section>
  );
}

function KeysTable({ keys, loading, onAdd, focus }: { keys: KeyView[]; loading: boolean; onAdd: () => void; focus: Set<number> }) {
  const toast = useToast();
  const [deleting, setDeleting] = useState<KeyView | null>(null);
  const patch = async (k: KeyView, body: { enabled?: boolean }) => {
    try {
      await must(api.PATCH("/api/v1/keys/{id}", { params: { path: { id: k.id } }, body }));
      invalidate("keys", "status", "plan");
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  const remove = async (k: KeyView) => {
    try {
      await must(api.DELETE("/api/v1/keys/{id}", { params: { path: { id: k.id } } }));
      invalidate("keys", "status", "plan");
      toast.ok(`Deleted key “${k.label}”`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  if (loading) return <SkeletonRows rows={2} />;
  if (keys.length === 0)
    return (
      <div className="card-body row" style={{ borderTop: "1px solid var(--border)" }}>
        <span className="muted small spacer">No keys yet. Requests can't reach this provider until it has one (local servers take any value).</span>
        <button type="button" className="btn sm primary" onClick={onAdd}>
          <Plus size={13} /> Add key
        </button>
      </div>
    );
  return (
    <div className="table-wrap" style={{ borderTop: "1px solid var(--border)" }}>
      <table className="keys-table">
        <colgroup>
          <col className="c-label" />
          <col className="c-key" />
          <col className="c-state" />
          <col className="c-weight" />
          <col className="c-enabled" />
          <col className="c-actions" />
        </colgroup>
        <thead>
          <tr>
            <th>Label</th>
            <th className="hide-narrow">Key</th>
            <th>State</th>
            <th className="num hide-narrow">Weight</th>
            <th>Enabled</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id} data-key-label={k.label} data-focused={focus.has(k.id) || undefined} className={focus.has(k.id) ? "focused" : undefined}>
              <td className="truncate" style={{ fontWeight: 500 }} title={k.label}>
                {k.label}
              </td>
              <td className="mono faint truncate hide-narrow">
                {keyShown(k)} <span title="SHA-256 fingerprint">· {k.fingerprint}</span>
              </td>
              <td>
                <div className="col" style={{ gap: 2, alignItems: "flex-start" }}>
                  <StatePill state={k.state} untilMs={k.until_ms} />
                  <KeyWhy k={k} withModel />
                  <KeyQuota k={k} />
                </div>
              </td>
              <td className="num hide-narrow">{k.weight}</td>
              <td>
                <Switch checked={k.enabled} onChange={(v) => patch(k, { enabled: v })} label={`Enable key ${k.label}`} />
              </td>
              <td>
                <div className="row" style={{ justifyContent: "flex-end" }}>
                  <KeyActions k={k} />
                  <button type="button" className="btn sm ghost icon" aria-label={`Delete key ${k.label}`} title={`Delete key ${k.label}`} onClick={() => setDeleting(k)}>
                    <Trash2 size={13} />
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {deleting && (
        <ConfirmDialog title={`Delete key “${deleting.label}”?`} confirmLabel="Delete key" onConfirm={() => remove(deleting)} onClose={() => setDeleting(null)}>
          The secret is write-only: once deleted it cannot be shown or restored here, only added again from where you keep it.
        </ConfirmDialog>
      )}
    </div>
  );
}

/** Reads the provider's model list once it has a key (model discovery on add); a provider
 * that cannot list its models keeps working with any model name. */
async function discoverOnAdd(provider: string) {
  try {
    await must(api.POST("/api/v1/providers/{name}/discover", { params: { path: { name: provider } } }));
    invalidate("providers");
  } catch {
    // Nothing to do: the key's own test says whether it works.
  }
}

/** The secrets pasted into the key box: one per line, blank lines and surrounding spaces dropped. */
export function pastedKeys(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

function AddKeyDialog({ provider, hasModels, onClose }: { provider: string; hasModels: boolean; onClose: () => void }) {
  const toast = useToast();
  const [label, setLabel] = useState("");
  const [secret, setSecret] = useState("");
  const [weight, setWeight] = useState(1);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const lines = pastedKeys(secret);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const added: string[] = [];
    try {
      for (const [i, line] of lines.entries()) {
        const envMatch = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(line);
        // Several keys at once: numbered after the label (or "key").
        const name = lines.length > 1 ? `${label.trim() || "key"} ${i + 1}` : label;
        const body = envMatch ? { provider, label: name, env: envMatch[1], weight } : { provider, label: name, secret: line, weight };
        const info = await must(api.POST("/api/v1/keys", { body }));
        added.push(`“${info.label}” (${keyShown(info)})`);
      }
      invalidate("keys", "status", "plan");
      toast.ok(added.length === 1 ? `Added key ${added[0]}` : `Added ${added.length} keys`);
      if (!hasModels) void discoverOnAdd(provider);
      onClose();
    } catch (err) {
      if (added.length > 0) invalidate("keys", "status", "plan");
      const why = err instanceof Error ? err.message : String(err);
      setError(added.length > 0 ? `Added ${added.join(", ")}; then: ${why}` : why);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={`Add a key to ${provider}`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="add-key" className="btn primary" disabled={busy || lines.length === 0}>
            {busy ? "Adding…" : lines.length > 1 ? `Add ${lines.length} keys` : "Add key"}
          </button>
        </>
      }
    >
      <form id="add-key" className="stack" onSubmit={submit}>
        <label className="field">
          <span>Label</span>
          <input className="input" value={label} onChange={(e) => setLabel(e.target.value)} placeholder="personal, team-a, backup…" data-autofocus />
        </label>
        <label className="field">
          <span>API key</span>
          <textarea className="textarea mono secret-box" rows={lines.length > 1 ? Math.min(lines.length + 1, 8) : 2} autoComplete="off" spellCheck={false} value={secret} onChange={(e) => setSecret(e.target.value)} placeholder={"sk-… or env:VARIABLE_NAME\n(several keys: one per line)"} />
          <span className="hint">Write-only: stored encrypted, never shown again. Only a fingerprint and the last four characters are kept visible. Paste several keys one per line to add them all; each starts as “Untested” until a test or a request says how it stands.</span>
        </label>
        <label className="field">
          <span>Weight</span>
          <input className="input" type="number" min={1} value={weight} onChange={(e) => setWeight(Math.max(1, Number(e.target.value) || 1))} />
          <span className="hint">Share of traffic relative to the provider's other keys.</span>
        </label>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </Dialog>
  );
}

function AddProviderDialog({ onClose }: { onClose: () => void }) {
  const presets = usePresets();
  const toast = useToast();
  const [preset, setPreset] = useState<Preset | null>(null);
  const [name, setName] = useState("");
  const [kind, setKind] = useState("openai_chat");
  const [baseUrl, setBaseUrl] = useState("");
  const [secret, setSecret] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const existing = useProviders().data ?? [];
  const pick = (p: Preset) => {
    setPreset(p);
    let n = p.id === "custom" ? "" : p.id;
    if (n && existing.some((x) => x.name === n)) n = `${n}-2`;
    setName(n);
    setKind(p.kind);
    setBaseUrl(p.base_url);
  };
  useEffect(() => {
    if (!preset && presets.data?.length) pick(presets.data[0]);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [presets.data]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const p = await must(api.POST("/api/v1/providers", { body: { name: name.trim(), kind, base_url: baseUrl.trim(), quirks: preset?.quirks ?? DEFAULT_QUIRKS } }));
      if (secret.trim()) await must(api.POST("/api/v1/keys", { body: { provider: p.name, label: "key 1", secret: secret.trim() } }));
      // Local servers take no key, but routing needs one to pick: store a placeholder.
      else if (!needsKey) await must(api.POST("/api/v1/keys", { body: { provider: p.name, label: "local", secret: "local" } }));
      if (secret.trim() || !needsKey) void discoverOnAdd(p.name);
      invalidate("providers", "keys", "status");
      toast.ok(`Added ${p.name}`);
      onClose();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const needsKey = preset?.needs_key ?? true;
  const nameTaken = useMemo(() => existing.some((x) => x.name === name.trim()), [existing, name]);
  return (
    <Dialog
      title="Add a provider"
      wide
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="add-provider" className="btn primary" disabled={busy || !name.trim() || !baseUrl.trim()}>
            {busy ? "Adding…" : nameTaken ? "Replace provider" : "Add provider"}
          </button>
        </>
      }
    >
      <div className="presets" role="group" aria-label="Presets">
        {(presets.data ?? []).map((p) => (
          <button type="button" key={p.id} className="preset" aria-pressed={preset?.id === p.id} onClick={() => pick(p)}>
            <span style={{ fontWeight: 500 }}>{p.name}</span>
            <small>{p.needs_key ? dialectLabel(p.kind) : "no key needed"}</small>
          </button>
        ))}
      </div>
      <form id="add-provider" className="stack" onSubmit={submit}>
        <div className="form-grid">
          <label className="field">
            <span>Name</span>
            <input className="input" value={name} onChange={(e) => setName(e.target.value)} placeholder="my-provider" required data-autofocus />
            {nameTaken && <span className="hint">A provider with this name exists and will be replaced.</span>}
          </label>
          <label className="field">
            <span>API dialect</span>
            <select className="select" value={kind} onChange={(e) => setKind(e.target.value)}>
              {DIALECTS.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.label}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label className="field">
          <span>Base URL</span>
          <input className="input mono" value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} placeholder="https://api.example.com/v1" required />
          <span className="hint">The API root as the provider documents it; https unless the server is local.</span>
        </label>
        <label className="field">
          <span>API key {needsKey ? "" : "(optional)"}</span>
          <input className="input mono" type="password" autoComplete="off" value={secret} onChange={(e) => setSecret(e.target.value)} placeholder={needsKey ? "sk-…" : "not needed for local servers"} />
          <span className="hint">You can add more keys (and labels) afterwards.</span>
        </label>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </Dialog>
  );
}


function EditProviderDialog({ p, onClose }: { p: Provider; onClose: () => void }) {
  const toast = useToast();
  const [kind, setKind] = useState(p.kind);
  const [baseUrl, setBaseUrl] = useState(p.base_url);
  const [priority, setPriority] = useState(p.priority ?? 0);
  const [dropParams, setDropParams] = useState((p.drop_params ?? []).join(", "));
  const [quirks, setQuirks] = useState(p.quirks ?? DEFAULT_QUIRKS);
  const [network, setNetwork] = useState<ProviderNetwork>({
    proxy: p.proxy ?? null,
    ca_file: p.ca_file ?? null,
    ca_pem: p.ca_pem ?? null,
    connect_ms: p.timeouts?.connect_ms ?? 10_000,
    first_byte_ms: p.timeouts?.first_byte_ms ?? 120_000,
  });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const drop_params = dropParams
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean);
      const { connect_ms, first_byte_ms, ...net } = network;
      const timeouts = p.timeouts ? { ...p.timeouts, connect_ms, first_byte_ms } : { connect_ms, first_byte_ms, idle_ms: 120_000, total_ms: 900_000 };
      await must(api.PUT("/api/v1/providers/{name}", { params: { path: { name: p.name } }, body: { ...p, kind, base_url: baseUrl.trim(), priority, drop_params, quirks, timeouts, ...net } }));
      invalidate("providers", "plan", "status");
      toast.ok(`Saved ${p.name}`);
      onClose();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={`Edit ${p.name}`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="edit-provider" className="btn primary" disabled={busy || !baseUrl.trim()}>
            {busy ? "Saving…" : "Save"}
          </button>
        </>
      }
    >
      <form id="edit-provider" className="stack" onSubmit={submit}>
        <label className="field">
          <span>API dialect</span>
          <select className="select" value={kind} onChange={(e) => setKind(e.target.value)} data-autofocus>
            {DIALECTS.map((d) => (
              <option key={d.id} value={d.id}>
                {d.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Base URL</span>
          <input className="input mono" value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} />
        </label>
        <div className="form-grid">
          <label className="field">
            <span>Priority</span>
            <input className="input" type="number" value={priority} onChange={(e) => setPriority(Number(e.target.value) || 0)} />
            <span className="hint">Lower is preferred when several providers serve a model.</span>
          </label>
          <label className="field">
            <span>Drop parameters</span>
            <input className="input mono" value={dropParams} onChange={(e) => setDropParams(e.target.value)} placeholder="thinking, logprobs" />
            <span className="hint">Request fields this provider rejects.</span>
          </label>
        </div>
        <QuirksFields value={quirks} onChange={setQuirks} />
        <ProviderNetworkFields value={network} onChange={setNetwork} />
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </Dialog>
  );
}
