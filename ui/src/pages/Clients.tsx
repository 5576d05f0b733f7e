import { type FormEvent, useState } from "react";
import { KeySquare, Pencil, Plus, Trash2, Users } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, CopyButton, EmptyState, ErrorNote, Pill, SkeletonRows, Switch } from "../components/ui";
import { ConfirmDialog, Dialog } from "../components/Dialog";
import { useToast } from "../components/Toasts";
import { api, must } from "../api/client";
import { useClients } from "../api/queries";
import type { ClientInput, ClientView } from "../api/types";
import { invalidate } from "../lib/query";
import { formatCount, formatDateTime, formatMoney } from "../lib/format";

/** The settings of a client as the API takes them back (an update replaces every field). */
export function inputOf(c: ClientView, patch: Partial<ClientInput> = {}): ClientInput {
  return {
    enabled: c.enabled,
    models: c.models ?? null,
    rpm: c.rpm ?? null,
    tpm: c.tpm ?? null,
    daily_budget_usd: c.daily_budget_usd ?? null,
    monthly_budget_usd: c.monthly_budget_usd ?? null,
    soft_limit_pct: c.soft_limit_pct,
    expires_at_ms: c.expires_at_ms ?? null,
    ...patch,
  };
}

/** Spent against a budget, as a share from 0 to 1 (capped), or null without a budget. */
export function budgetShare(spent: number, budget: number | null | undefined): number | null {
  if (budget == null || budget <= 0) return null;
  return Math.min(1, spent / budget);
}

function limitsText(c: ClientView): string {
  const parts: string[] = [];
  if (c.rpm != null) parts.push(`${formatCount(c.rpm)} req/min`);
  if (c.tpm != null) parts.push(`${formatCount(c.tpm)} tok/min`);
  return parts.length ? parts.join(" · ") : "none";
}

function BudgetBar({ label, spent, budget, soft }: { label: string; spent: number; budget: number | null | undefined; soft: number }) {
  const share = budgetShare(spent, budget);
  if (share === null) {
    return (
      <div className="small muted">
        {label}: {formatMoney(spent)} <span className="faint">(no budget)</span>
      </div>
    );
  }
  const color = share >= 1 ? "var(--red)" : share * 100 >= soft ? "var(--amber)" : "var(--chart-1)";
  return (
    <div className="stack" style={{ gap: 3 }}>
      <div className="small">
        {label}: {formatMoney(spent)} of {formatMoney(budget)}
      </div>
      <div className="bar-track" role="meter" aria-label={`${label} spend`} aria-valuemin={0} aria-valuemax={budget ?? 0} aria-valuenow={spent}>
        <div className="bar-fill" style={{ width: `${Math.round(share * 100)}%`, background: color }} />
      </div>
    </div>
  );
}

export function Clients() {
  const clients = useClients();
  const [editing, setEditing] = useState<ClientView | "new" | null>(null);
  const [secret, setSecret] = useState<{ client: string; key: string } | null>(null);
  return (
    <>
      <PageHeader title="Clients">
        <button type="button" className="btn primary" onClick={() => setEditing("new")}>
          <Plus size={15} /> New client
        </button>
      </PageHeader>
      <div className="content">
        <p className="muted small">
          A client is a tool or a teammate with access keys of its own: its requests are counted separately, and it can be limited (requests and tokens per minute), kept to some models, and given a daily or
          monthly budget. Configuring a tool in Integrations gives it a client.
        </p>
        {clients.error && !clients.data ? (
          <Card>
            <ErrorNote error={clients.error} onRetry={clients.reload} />
          </Card>
        ) : !clients.data ? (
          <Card>
            <SkeletonRows rows={4} />
          </Card>
        ) : clients.data.length === 0 ? (
          <Card>
            <EmptyState icon={<Users size={22} />} title="No clients yet" />
          </Card>
        ) : (
          <Card title="Clients" icon={<Users size={16} />}>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Keys</th>
                    <th>Limits</th>
                    <th>Spend</th>
                    <th>On</th>
                    <th aria-label="Actions" />
                  </tr>
                </thead>
                <tbody>
                  {clients.data.map((c) => (
                    <ClientRow key={c.name} client={c} onEdit={() => setEditing(c)} onKey={(key) => setSecret({ client: c.name, key })} />
                  ))}
                </tbody>
              </table>
            </div>
          </Card>
        )}
      </div>
      {editing && <ClientDialog client={editing === "new" ? null : editing} onClose={() => setEditing(null)} onCreated={(client, key) => setSecret({ client, key })} />}
      {secret && <KeyOnce client={secret.client} secretKey={secret.key} onClose={() => setSecret(null)} />}
    </>
  );
}

function ClientRow({ client: c, onEdit, onKey }: { client: ClientView; onEdit: () => void; onKey: (key: string) => void }) {
  const toast = useToast();
  const setEnabled = async (on: boolean) => {
    try {
      await must(api.PUT("/api/v1/clients/{name}", { params: { path: { name: c.name } }, body: inputOf(c, { enabled: on }) }));
      invalidate("clients");
      toast.ok(`${c.name} ${on ? "enabled" : "disabled"}`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  const addKey = async () => {
    try {
      const made = await must(api.POST("/api/v1/clients/{name}/keys", { params: { path: { name: c.name } } }));
      invalidate("clients");
      onKey(made.key);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <tr data-client={c.name}>
      <td>
        <div className="mono">{c.name}</div>
        <div className="row wrap">
          {c.builtin && <Pill color="blue">local access key</Pill>}
          {c.expired && <Pill color="red">expired</Pill>}
          {c.models && <span className="faint small">models: {c.models.join(", ")}</span>}
        </div>
      </td>
      <td className="small">
        {c.keys.map((k) => (
          <div key={k.id ?? `local-${k.fingerprint}`} className="row">
            <span className="mono">…{k.last4 || "????"}</span>
            <span className="faint mono">{k.fingerprint}</span>
            {k.id != null && <RevokeKey client={c.name} id={k.id} last4={k.last4} />}
          </div>
        ))}
        <button type="button" className="btn sm ghost" onClick={addKey} aria-label={`New key for ${c.name}`}>
          <KeySquare size={13} /> New key
        </button>
      </td>
      <td className="small">{limitsText(c)}</td>
      <td style={{ minWidth: 190 }}>
        <div className="stack" style={{ gap: 6 }}>
          <BudgetBar label="Today" spent={c.spent_today_usd} budget={c.daily_budget_usd} soft={c.soft_limit_pct} />
          <BudgetBar label="This month" spent={c.spent_month_usd} budget={c.monthly_budget_usd} soft={c.soft_limit_pct} />
        </div>
      </td>
      <td>
        <Switch checked={c.enabled} onChange={setEnabled} label={`Enable ${c.name}`} />
      </td>
      <td>
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <button type="button" className="btn sm ghost icon" aria-label={`Edit ${c.name}`} title={`Edit ${c.name}`} onClick={onEdit}>
            <Pencil size={13} />
          </button>
          {!c.builtin && <DeleteClient name={c.name} />}
        </div>
      </td>
    </tr>
  );
}

function RevokeKey({ client, id, last4 }: { client: string; id: number; last4: string }) {
  const toast = useToast();
  const [asking, setAsking] = useState(false);
  const revoke = async () => {
    try {
      await must(api.DELETE("/api/v1/clients/{name}/keys/{id}", { params: { path: { name: client, id } } }));
      invalidate("clients");
      toast.ok(`Revoked key …${last4}`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <>
      <button type="button" className="btn sm ghost icon" aria-label={`Revoke key ${last4} of ${client}`} title={`Revoke key ${last4} of ${client}`} onClick={() => setAsking(true)}>
        <Trash2 size={12} />
      </button>
      {asking && (
        <ConfirmDialog title={`Revoke key …${last4}?`} confirmLabel="Revoke key" onConfirm={revoke} onClose={() => setAsking(false)}>
          Tools using this key of <span className="mono">{client}</span> get 401 from now on.
        </ConfirmDialog>
      )}
    </>
  );
}

function DeleteClient({ name }: { name: string }) {
  const toast = useToast();
  const [asking, setAsking] = useState(false);
  const remove = async () => {
    try {
      await must(api.DELETE("/api/v1/clients/{name}", { params: { path: { name } } }));
      invalidate("clients");
      toast.ok(`Deleted client ${name}`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <>
      <button type="button" className="btn sm ghost icon" aria-label={`Delete ${name}`} title={`Delete ${name}`} onClick={() => setAsking(true)}>
        <Trash2 size={13} />
      </button>
      {asking && (
        <ConfirmDialog title={`Delete client ${name}?`} confirmLabel="Delete client" onConfirm={remove} onClose={() => setAsking(false)}>
          Its keys stop working at once. Its past requests stay in the log and in usage under its name.
        </ConfirmDialog>
      )}
    </>
  );
}

function KeyOnce({ client, secretKey, onClose }: { client: string; secretKey: string; onClose: () => void }) {
  return (
    <Dialog
      title={`Access key for ${client}`}
      onClose={onClose}
      footer={
        <button type="button" className="btn primary" onClick={onClose}>
          Done
        </button>
      }
    >
      <div className="stack">
        <div className="callout">
          <div>Copy this key now: it is shown only once. Switchboard keeps only its fingerprint.</div>
        </div>
        <div className="row">
          <div className="code-box spacer mono" data-testid="new-client-key">
            {secretKey}
          </div>
          <CopyButton text={secretKey} small />
        </div>
      </div>
    </Dialog>
  );
}

const num = (s: string): number | null => (s.trim() === "" ? null : Number(s));

function ClientDialog({ client, onClose, onCreated }: { client: ClientView | null; onClose: () => void; onCreated: (name: string, key: string) => void }) {
  const toast = useToast();
  const [name, setName] = useState(client?.name ?? "");
  const [models, setModels] = useState((client?.models ?? []).join(", "));
  const [rpm, setRpm] = useState(client?.rpm != null ? String(client.rpm) : "");
  const [tpm, setTpm] = useState(client?.tpm != null ? String(client.tpm) : "");
  const [daily, setDaily] = useState(client?.daily_budget_usd != null ? String(client.daily_budget_usd) : "");
  const [monthly, setMonthly] = useState(client?.monthly_budget_usd != null ? String(client.monthly_budget_usd) : "");
  const [soft, setSoft] = useState(String(client?.soft_limit_pct ?? 80));
  const [expires, setExpires] = useState(client?.expires_at_ms ? new Date(client.expires_at_ms).toISOString().slice(0, 10) : "");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const list = models
      .split(",")
      .map((m) => m.trim())
      .filter(Boolean);
    const body: ClientInput = {
      name: name.trim(),
      enabled: client?.enabled ?? true,
      models: list.length ? list : null,
      rpm: num(rpm),
      tpm: num(tpm),
      daily_budget_usd: num(daily),
      monthly_budget_usd: num(monthly),
      soft_limit_pct: num(soft) ?? 80,
      expires_at_ms: expires ? Date.parse(`${expires}T00:00:00Z`) : null,
    };
    try {
      if (client) {
        await must(api.PUT("/api/v1/clients/{name}", { params: { path: { name: client.name } }, body }));
        toast.ok(`Saved client ${client.name}`);
      } else {
        const made = await must(api.POST("/api/v1/clients", { body }));
        onCreated(made.client.name, made.key);
      }
      invalidate("clients");
      onClose();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={client ? `Edit ${client.name}` : "New client"}
      wide
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="client-form" className="btn primary" disabled={busy || !name.trim()}>
            {busy ? "Saving…" : client ? "Save client" : "Create client"}
          </button>
        </>
      }
    >
      <form id="client-form" className="stack" onSubmit={submit}>
        <div className="form-grid">
          <label className="field">
            <span>Name</span>
            <input className="input mono" value={name} onChange={(e) => setName(e.target.value)} placeholder="codex" disabled={!!client} data-autofocus />
            <span className="hint">Letters, digits, . _ and -.</span>
          </label>
          <label className="field">
            <span>Models</span>
            <input className="input mono" value={models} onChange={(e) => setModels(e.target.value)} placeholder="any" />
            <span className="hint">Aliases or models it may use, comma-separated; empty: any.</span>
          </label>
          <label className="field">
            <span>Requests per minute</span>
            <input className="input" type="number" min={1} value={rpm} onChange={(e) => setRpm(e.target.value)} placeholder="no limit" />
          </label>
          <label className="field">
            <span>Tokens per minute</span>
            <input className="input" type="number" min={1} value={tpm} onChange={(e) => setTpm(e.target.value)} placeholder="no limit" />
          </label>
          <label className="field">
            <span>Daily budget (USD)</span>
            <input className="input" type="number" min={0} step="0.01" value={daily} onChange={(e) => setDaily(e.target.value)} placeholder="no budget" />
          </label>
          <label className="field">
            <span>Monthly budget (USD)</span>
            <input className="input" type="number" min={0} step="0.01" value={monthly} onChange={(e) => setMonthly(e.target.value)} placeholder="no budget" />
          </label>
          <label className="field">
            <span>Alert at (% of budget)</span>
            <input className="input" type="number" min={1} max={100} value={soft} onChange={(e) => setSoft(e.target.value)} />
            <span className="hint">At 100% requests are refused until the period ends (UTC).</span>
          </label>
          <label className="field">
            <span>Expires</span>
            <input className="input" type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
            <span className="hint">{client?.expires_at_ms ? `now ${formatDateTime(client.expires_at_ms)}` : "never"}</span>
          </label>
        </div>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </Dialog>
  );
}
