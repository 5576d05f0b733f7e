// Small building blocks: status pills, countdowns, copy buttons, skeletons, empty states.

import { type ReactNode, useState } from "react";
import { Check, Copy } from "lucide-react";
import { formatCountdown, humanize } from "../lib/format";
import { useNow } from "../lib/now";
import { useToast } from "./Toasts";

export type KeyState = "healthy" | "untested" | "cooling" | "auth_error" | "probing" | "disabled";

const STATE_COLOR: Record<string, string> = {
  healthy: "green",
  untested: "",
  cooling: "amber",
  auth_error: "red",
  probing: "blue",
  disabled: "",
};

const STATE_LABEL: Record<string, string> = {
  healthy: "Healthy",
  untested: "Untested",
  cooling: "Cooling",
  auth_error: "Auth error",
  probing: "Probing",
  disabled: "Disabled",
};

/** A key's state as a colored pill; cooling shows a live countdown to `untilMs`. */
/** A key state. A current state counts its cooldown down live; a past one (`atMs`, when it
 * happened) shows how long the cooldown was set for, which does not change. */
export function StatePill({ state, untilMs, atMs }: { state: string; untilMs?: number | null; atMs?: number }) {
  const color = STATE_COLOR[state] ?? "";
  const cooling = state === "cooling" && untilMs;
  return (
    <span className={`pill ${color} ${state === "probing" && atMs === undefined ? "live" : ""}`} data-state={state}>
      <span className="dot" />
      {STATE_LABEL[state] ?? humanize(state)}
      {cooling && atMs === undefined ? <Countdown untilMs={untilMs} /> : null}
      {cooling && atMs !== undefined ? <span className="tnum">for {formatCountdown(untilMs - atMs)}</span> : null}
    </span>
  );
}

export function Countdown({ untilMs }: { untilMs: number }) {
  const now = useNow();
  return <span className="tnum" data-countdown>{formatCountdown(untilMs - now)}</span>;
}

/** Why the desktop app keeps keys in the encrypted file instead of the OS keychain. */
export function SecretStoreNote({ note }: { note?: string | null }) {
  if (!note) return null;
  return (
    <div className="callout" role="note" data-testid="secret-store-note">
      <div>Keys are kept in the encrypted file because the OS keychain is not available: {note}</div>
    </div>
  );
}

export function Pill({ color = "", children, title }: { color?: string; children: ReactNode; title?: string }) {
  return (
    <span className={`pill ${color}`} title={title}>
      {children}
    </span>
  );
}

/** A copy button; `name` (its accessible name and tooltip) says what it copies when the
 * visible `label` alone does not. */
export function CopyButton({ text, label = "Copy", name, small }: { text: string; label?: string; name?: string; small?: boolean }) {
  const [done, setDone] = useState(false);
  const toast = useToast();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API unavailable (insecure context): fall back to a hidden textarea.
      const ta = document.createElement("textarea");
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    setDone(true);
    toast.ok("Copied to the clipboard");
    setTimeout(() => setDone(false), 1500);
  };
  return (
    <button type="button" className={`btn ${small ? "sm" : ""}`} onClick={copy} aria-label={name ?? label} title={name}>
      {done ? <Check size={14} /> : <Copy size={14} />}
      <span>{done ? "Copied" : label}</span>
    </button>
  );
}

export function Switch({ checked, onChange, label, disabled }: { checked: boolean; onChange: (v: boolean) => void; label: string; disabled?: boolean }) {
  return <button type="button" role="switch" className="switch" aria-checked={checked} aria-label={label} disabled={disabled} onClick={() => onChange(!checked)} />;
}

export function Skeleton({ width = "100%", height = 14 }: { width?: string | number; height?: number }) {
  return <div className="skeleton" style={{ width, height }} aria-hidden="true" />;
}

export function SkeletonRows({ rows = 4 }: { rows?: number }) {
  return (
    <div className="card-body stack" aria-busy="true" aria-label="Loading">
      {Array.from({ length: rows }, (_, i) => (
        <Skeleton key={i} width={`${90 - ((i * 17) % 35)}%`} />
      ))}
    </div>
  );
}

export function EmptyState({ icon, title, children, action }: { icon: ReactNode; title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty">
      <div className="empty-icon">{icon}</div>
      <h2>{title}</h2>
      {children && <p>{children}</p>}
      {action}
    </div>
  );
}

export function Card({ title, actions, children, icon, className }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; icon?: ReactNode; className?: string }) {
  return (
    <section className={`card ${className ?? ""}`}>
      {(title || actions) && (
        <div className="card-head">
          <h2>
            {icon}
            {title}
          </h2>
          {actions}
        </div>
      )}
      {children}
    </section>
  );
}

export function ErrorNote({ error, onRetry }: { error: string; onRetry?: () => void }) {
  return (
    <div className="card-body">
      <div className="callout" role="alert">
        <div>
          Could not load: <span>{error}</span>
        </div>
        {onRetry && (
          <button type="button" className="btn sm" onClick={onRetry}>
            Retry
          </button>
        )}
      </div>
    </div>
  );
}
