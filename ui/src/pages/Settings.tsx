import { type FormEvent, useEffect, useState } from "react";
import { Globe, LogOut, RotateCw, Server, ShieldCheck, Timer, Wrench } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, CopyButton, SecretStoreNote, SkeletonRows } from "../components/ui";
import { Dialog } from "../components/Dialog";
import { ExportImport } from "../components/ExportImport";
import { AlertSettings } from "../components/AlertSettings";
import { PriceSettings } from "../components/PriceSettings";
import { NO_PROXY_SET, ProxyFields } from "../components/NetworkFields";
import { useToast } from "../components/Toasts";
import { api, getAdminToken, must } from "../api/client";
import { useAccessKey, useStatus } from "../api/queries";
import type { CooldownPolicy, Settings } from "../api/types";
import { invalidate, setQueryData, useQuery } from "../lib/query";
import { clearToken } from "../lib/token";
import { secretStoreLabel } from "../lib/format";

export function SettingsPage() {
  return (
    <>
      <PageHeader title="Settings" />
      <div className="content">
        <div className="grid two">
          <ServerCard />
          <AccessCard />
        </div>
        <RoutingSettings />
        <NetworkSettings />
        <CooldownSettings />
        <AlertSettings />
        <PriceSettings />
        <ExportImport />
      </div>
    </>
  );
}

function ServerCard() {
  const status = useStatus();
  let host = "";
  let port = "";
  try {
    const u = new URL(status.data?.endpoint ?? "");
    host = u.hostname;
    port = u.port || "80";
  } catch {
    /* not loaded */
  }
  return (
    <Card title="Server" icon={<Server size={16} />}>
      {!status.data ? (
        <SkeletonRows rows={3} />
      ) : (
        <div className="card-body stack">
          <dl className="kv">
            <dt>Bind</dt>
            <dd className="mono">{host}</dd>
            <dt>Port</dt>
            <dd className="mono">{port}</dd>
            <dt>Endpoint</dt>
            <dd className="mono">{status.data.endpoint}</dd>
            <dt>Secrets</dt>
            <dd>{secretStoreLabel(status.data.secret_store)}</dd>
          </dl>
          <SecretStoreNote note={status.data.secret_store_note} />
          <p className="small faint">
            Port and bind address are chosen at start: <code>switchboard serve --host 127.0.0.1 --port 9911</code>, or <code>[server]</code> in the config file. Tools keep working across restarts because the
            port is fixed.
          </p>
        </div>
      )}
    </Card>
  );
}

function AccessCard() {
  const key = useAccessKey();
  const toast = useToast();
  const [confirm, setConfirm] = useState(false);
  const rotate = async () => {
    try {
      const k = await must(api.POST("/api/v1/access-key/rotate"));
      setQueryData("access-key", () => k);
      toast.ok("Access key rotated: reconfigure your tools with the new key");
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
    setConfirm(false);
  };
  const admin = getAdminToken() ?? "";
  const mask = (s: string) => (s.length > 10 ? `${s.slice(0, 6)}${"•".repeat(14)}${s.slice(-4)}` : "•".repeat(s.length));
  return (
    <Card title="Access" icon={<ShieldCheck size={16} />}>
      <div className="card-body stack">
        <div className="field">
          <span>Access key (what your tools send)</span>
          <div className="row">
            <div className="code-box spacer">{key.data ? mask(key.data.access_key) : "…"}</div>
            {key.data && <CopyButton text={key.data.access_key} small />}
            <button type="button" className="btn sm" onClick={() => setConfirm(true)}>
              <RotateCw size={13} /> Rotate
            </button>
          </div>
        </div>
        <div className="field">
          <span>Admin token (this dashboard)</span>
          <div className="row">
            <div className="code-box spacer">{mask(admin)}</div>
            <CopyButton text={admin} small />
            <button
              type="button"
              className="btn sm"
              onClick={() => {
                clearToken();
                window.location.reload();
              }}
            >
              <LogOut size={13} /> Sign out
            </button>
          </div>
          <span className="hint">
            Print it with <code>switchboard keys show-admin</code>. Set it with <code>SWITCHBOARD_ADMIN_TOKEN</code>.
          </span>
        </div>
      </div>
      {confirm && (
        <Dialog
          title="Rotate the access key?"
          onClose={() => setConfirm(false)}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setConfirm(false)}>
                Cancel
              </button>
              <button type="button" className="btn primary" onClick={rotate}>
                Rotate key
              </button>
            </>
          }
        >
          <p className="muted">Tools configured with the current key stop working until they get the new one (re-run the integrations).</p>
        </Dialog>
      )}
    </Card>
  );
}

function NumberField({ label, value, onChange, hint, min = 0, unit }: { label: string; value: number; onChange: (v: number) => void; hint?: string; min?: number; unit?: string }) {
  return (
    <label className="field">
      <span>
        {label}
        {unit ? <span className="faint"> ({unit})</span> : null}
      </span>
      <input className="input tnum" type="number" min={min} value={Number.isFinite(value) ? value : ""} onChange={(e) => onChange(Number(e.target.value))} />
      {hint && <span className="hint">{hint}</span>}
    </label>
  );
}

/** The global proxy: how upstream connections reach the network unless a provider sets its own. */
function NetworkSettings() {
  const q = useQuery<Settings>("settings", () => must(api.GET("/api/v1/settings")));
  const toast = useToast();
  const [proxy, setProxy] = useState<Settings["proxy"] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (q.data) setProxy(q.data.proxy ?? NO_PROXY_SET);
  }, [q.data]);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!q.data || !proxy) return;
    setError(null);
    try {
      const saved = await must(api.PUT("/api/v1/settings", { body: { ...q.data, proxy } }));
      setQueryData<Settings>("settings", () => saved);
      toast.ok("Network settings saved");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <Card title="Upstream network" icon={<Globe size={16} />}>
      {!proxy ? (
        <SkeletonRows rows={2} />
      ) : (
        <form className="card-body stack" onSubmit={save} aria-label="Upstream network">
          <ProxyFields key={proxy.credential_ref ?? "none"} value={proxy} onChange={(p) => setProxy(p ?? NO_PROXY_SET)} inherit={false} />
          <p className="small faint">A provider can set its own proxy, custom CA and timeouts in its editor.</p>
          {error && (
            <p className="field-error" role="alert">
              {error}
            </p>
          )}
          <div>
            <button type="submit" className="btn primary">
              Save
            </button>
          </div>
        </form>
      )}
    </Card>
  );
}

function RoutingSettings() {
  const q = useQuery<Settings>("settings", () => must(api.GET("/api/v1/settings")));
  const toast = useToast();
  const [s, setS] = useState<Settings | null>(null);
  useEffect(() => {
    if (q.data) setS(q.data);
  }, [q.data]);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!s) return;
    try {
      await must(api.PUT("/api/v1/settings", { body: s }));
      invalidate("settings");
      toast.ok("Settings saved");
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    }
  };
  const set = (patch: Partial<Settings>) => setS((x) => (x ? { ...x, ...patch } : x));
  return (
    <Card title="Requests and log" icon={<Wrench size={16} />}>
      {!s ? (
        <SkeletonRows rows={3} />
      ) : (
        <form className="card-body stack" onSubmit={save}>
          <div className="form-grid">
            <NumberField label="Log retention" unit="days" value={s.log_retention_days} onChange={(v) => set({ log_retention_days: v })} hint="Older request log entries are deleted." />
            <NumberField label="Attempt budget" value={s.attempt_budget} min={1} onChange={(v) => set({ attempt_budget: v })} hint="Most upstream attempts per request." />
            <NumberField label="Request deadline" unit="s" value={s.request_deadline_ms / 1000} onChange={(v) => set({ request_deadline_ms: Math.round(v * 1000) })} />
            <NumberField label="Max wait for a key" unit="s" value={s.max_wait_ms / 1000} onChange={(v) => set({ max_wait_ms: Math.round(v * 1000) })} hint="Wait this long for a cooling key before failing." />
            <NumberField label="Session affinity" unit="s" value={s.affinity_ttl_secs} onChange={(v) => set({ affinity_ttl_secs: v })} />
            <NumberField label="Body limit" unit="MiB" value={Math.round((s.body_limit_bytes / 1048576) * 100) / 100} onChange={(v) => set({ body_limit_bytes: Math.round(v * 1048576) })} />
            <label className="field">
              <span>Default route</span>
              <input className="input mono" value={s.default_route ?? ""} onChange={(e) => set({ default_route: e.target.value || null })} placeholder="none" />
              <span className="hint">Used for model names nothing serves.</span>
            </label>
          </div>
          <div>
            <button type="submit" className="btn primary">
              Save
            </button>
          </div>
        </form>
      )}
    </Card>
  );
}

const COOLDOWN_FIELDS: { key: keyof CooldownPolicy; label: string; unit: "s" | "count"; hint: string }[] = [
  { key: "rate_limited_ms", label: "Rate limited (no hint)", unit: "s", hint: "After a 429 without a reset hint." },
  { key: "max_hint_ms", label: "Longest reset hint", unit: "s", hint: "Provider hints are capped at this." },
  { key: "insufficient_balance_ms", label: "Out of balance", unit: "s", hint: "After a 402 or quota error." },
  { key: "temporary_base_ms", label: "Temporary error (first)", unit: "s", hint: "5xx, timeouts; doubles on repeats." },
  { key: "temporary_max_ms", label: "Temporary error (max)", unit: "s", hint: "Cap of the backoff." },
  { key: "breaker_threshold", label: "Breaker threshold", unit: "count", hint: "Failures in a row that open a provider's circuit." },
  { key: "breaker_open_ms", label: "Breaker open", unit: "s", hint: "How long an open circuit skips the provider." },
];

function CooldownSettings() {
  const q = useQuery<CooldownPolicy>("cooldowns", () => must(api.GET("/api/v1/settings/cooldowns")));
  const toast = useToast();
  const [p, setP] = useState<CooldownPolicy | null>(null);
  useEffect(() => {
    if (q.data) setP(q.data);
  }, [q.data]);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!p) return;
    try {
      await must(api.PUT("/api/v1/settings/cooldowns", { body: p }));
      invalidate("cooldowns");
      toast.ok("Cooldown defaults saved");
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <Card title="Cooldown defaults" icon={<Timer size={16} />}>
      {!p ? (
        <SkeletonRows rows={3} />
      ) : (
        <form className="card-body stack" onSubmit={save}>
          <div className="form-grid">
            {COOLDOWN_FIELDS.map((f) => (
              <NumberField
                key={f.key}
                label={f.label}
                unit={f.unit === "s" ? "s" : undefined}
                hint={f.hint}
                value={f.unit === "s" ? p[f.key] / 1000 : p[f.key]}
                onChange={(v) => setP((x) => (x ? { ...x, [f.key]: f.unit === "s" ? Math.round(v * 1000) : Math.round(v) } : x))}
              />
            ))}
          </div>
          <div>
            <button type="submit" className="btn primary">
              Save
            </button>
          </div>
        </form>
      )}
    </Card>
  );
}
