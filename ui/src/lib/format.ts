// Formatting for numbers, durations and countdowns.

/** `1h 02m`, `4m 05s`, `12s`, or `now` for a countdown of `ms` milliseconds. */
export function formatCountdown(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return "now";
  const total = Math.ceil(ms / 1000);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (d > 0) return `${d}d ${pad(h)}h`;
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

/** How a key is shown: its variable (`env:NAME`), its last four characters, or — for a key too
 * short to show any of it safely — that it is short. */
export function keyShown(k: { env_ref?: string | null; last4: string }): string {
  if (k.env_ref) return k.env_ref;
  return k.last4 ? `••••${k.last4}` : "short key, not shown";
}

/** A latency: `850 ms`, `1.24 s`, `—` for none. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return formatCountdown(ms);
}

/** Compact counts: 950, 1.2k, 3.4M. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const abs = Math.abs(n);
  if (abs < 1000) return String(Math.round(n * 100) / 100);
  if (abs < 1_000_000) return `${(n / 1000).toFixed(abs < 10_000 ? 1 : 0)}k`;
  if (abs < 1_000_000_000) return `${(n / 1_000_000).toFixed(abs < 10_000_000 ? 1 : 0)}M`;
  return `${(n / 1_000_000_000).toFixed(1)}B`;
}

export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "—";
  const p = ratio * 100;
  if (p === 0) return "0%";
  if (p < 0.1) return "<0.1%";
  return `${p < 10 ? p.toFixed(1) : Math.round(p)}%`;
}

/** `12s ago`, `5m ago`, `3h ago`, else a date. */
export function formatAgo(atMs: number, nowMs: number = Date.now()): string {
  const d = Math.max(0, nowMs - atMs);
  if (d < 5_000) return "just now";
  if (d < 60_000) return `${Math.floor(d / 1000)}s ago`;
  if (d < 3_600_000) return `${Math.floor(d / 60_000)}m ago`;
  if (d < 86_400_000) return `${Math.floor(d / 3_600_000)}h ago`;
  return new Date(atMs).toLocaleDateString();
}

export function formatTime(atMs: number): string {
  const d = new Date(atMs);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

export function formatDateTime(atMs: number): string {
  const d = new Date(atMs);
  return `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${formatTime(atMs)}`;
}

export function formatMoney(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "—";
  if (usd === 0) return "$0";
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

/** Human words for snake_case reasons: `rate_limited` → `rate limited`. */
export function humanize(s: string | null | undefined): string {
  return (s ?? "").replace(/_/g, " ");
}

/** Where keys are kept, as the status reports it (`os_keychain`, `encrypted_file`). */
export function secretStoreLabel(kind: string): string {
  return { os_keychain: "OS keychain", encrypted_file: "encrypted file" }[kind] ?? humanize(kind);
}
