import { type FormEvent, useState } from "react";
import { LockKeyhole, Waypoints } from "lucide-react";
import { apiBase } from "../api/client";

/** Shown without an admin token: paste it, check it against the router, continue. */
export function TokenGate({ onToken }: { onToken: (t: string) => void }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const token = value.trim();
    if (!token) return;
    setBusy(true);
    setError(null);
    try {
      const resp = await fetch(`${apiBase()}/api/v1/status`, { headers: { Authorization: `Bearer ${token}` } });
      if (resp.status === 401) setError("That token was not accepted.");
      else if (!resp.ok) setError(`The router answered ${resp.status}.`);
      else onToken(token);
    } catch {
      setError("Could not reach the router.");
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="gate">
      <form className="card" onSubmit={submit}>
        <div className="row">
          <span className="brand-mark" aria-hidden="true">
            <Waypoints size={16} />
          </span>
          <h1>Switchboard</h1>
        </div>
        <p className="muted">
          Paste your admin token to open the dashboard. Print it with <code>switchboard keys show-admin</code>, or open the dashboard link that{" "}
          <code>switchboard serve</code> prints.
        </p>
        <label className="field">
          <span>Admin token</span>
          <input className="input mono" type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} autoFocus placeholder="sbadm-…" />
        </label>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn primary" disabled={busy || !value.trim()}>
          <LockKeyhole size={15} /> Continue
        </button>
      </form>
    </div>
  );
}
