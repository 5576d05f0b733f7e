import { type FormEvent, useEffect, useState } from "react";
import { LockKeyhole, Waypoints } from "lucide-react";
import { apiBase } from "../api/client";

/** A signed-in user (the session cookie holds the credential; scripts never see it). */
export interface SessionUser {
  name: string | null;
  role: "admin" | "viewer";
}

/** Who the session cookie belongs to, or null when there is no live session. */
export async function currentSession(): Promise<SessionUser | null> {
  try {
    const resp = await fetch(`${apiBase()}/api/v1/session`, { credentials: "same-origin", cache: "no-store" });
    if (!resp.ok) return null;
    const body = (await resp.json()) as { name?: string | null; role?: string; via?: string };
    if (body.via !== "session") return null;
    return { name: body.name ?? null, role: body.role === "admin" ? "admin" : "viewer" };
  } catch {
    return null;
  }
}

/** Signs out (ends the session; the server clears the cookie). */
export async function signOut(): Promise<void> {
  await fetch(`${apiBase()}/api/v1/session`, { method: "DELETE", credentials: "same-origin" }).catch(() => undefined);
}

/** Shown without an admin token or a session: sign in with a name and password. */
function PasswordSignIn({ onSession }: { onSession: (u: SessionUser) => void }) {
  const [sso, setSso] = useState(false);
  useEffect(() => {
    fetch(`${apiBase()}/api/v1/session/oidc/options`, { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : { enabled: false }))
      .then((o: { enabled?: boolean }) => setSso(o.enabled === true))
      .catch(() => setSso(false));
  }, []);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim() || !password) return;
    setBusy(true);
    setError(null);
    try {
      const resp = await fetch(`${apiBase()}/api/v1/session`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: name.trim(), password }),
      });
      if (resp.status === 401) setError("Wrong name or password.");
      else if (resp.status === 429) setError("Too many failed sign-ins; wait a few minutes.");
      else if (!resp.ok) setError(`The router answered ${resp.status}.`);
      else {
        const u = await currentSession();
        if (u) onSession(u);
        else setError("The session could not be opened.");
      }
    } catch {
      setError("Could not reach the router.");
    } finally {
      setPassword("");
      setBusy(false);
    }
  };
  return (
    <form className="card" onSubmit={submit} data-testid="password-sign-in">
      <p className="muted">Sign in with your Switchboard user.</p>
      <label className="field">
        <span>Name</span>
        <input className="input" autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label className="field">
        <span>Password</span>
        <input className="input" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="btn primary" disabled={busy || !name.trim() || !password}>
        <LockKeyhole size={15} /> Sign in
      </button>
      {sso && (
        <a className="btn" href={`${apiBase()}/api/v1/session/oidc/start`} data-testid="sso-sign-in">
          Sign in with SSO
        </a>
      )}
    </form>
  );
}

/** Shown without an admin token or a session: sign in as a user, or paste the admin token. */
export function TokenGate({ onToken, onSession }: { onToken: (t: string) => void; onSession?: (u: SessionUser) => void }) {
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
      {onSession && <PasswordSignIn onSession={onSession} />}
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
