import type { KeyView } from "../api/types";
import { humanize } from "../lib/format";
import { Countdown } from "./ui";

type Window = NonNullable<KeyView["quota"]>[number];

const KIND_LABEL: Record<string, string> = {
  requests: "requests",
  tokens: "tokens",
  input_tokens: "input tokens",
  output_tokens: "output tokens",
  five_hour: "5-hour window",
  seven_day: "7-day window",
};

/** The share left of a window: unified windows announce percent left, others a count of a limit. */
function share(w: Window): number | null {
  if (w.kind === "five_hour" || w.kind === "seven_day") return w.remaining / 100;
  if (!w.limit) return null;
  return Math.min(1, w.remaining / w.limit);
}

function amount(w: Window): string {
  if (w.kind === "five_hour" || w.kind === "seven_day") return `${w.remaining}% left`;
  return w.limit ? `${w.remaining.toLocaleString()} / ${w.limit.toLocaleString()}` : `${w.remaining.toLocaleString()} left`;
}

/** A key's quota as its provider announced it (one bar per model and window, with the time
 * until the window is full again) and its last balance check, under its state. */
export function KeyQuota({ k }: { k: KeyView }) {
  const windows = k.quota ?? [];
  const b = k.balance;
  if (windows.length === 0 && !b) return null;
  return (
    <div className="col" style={{ gap: 3, width: "100%", marginTop: 2 }} data-testid="key-quota">
      {windows.map((w) => {
        const s = share(w);
        return (
          <div key={`${w.model}/${w.kind}`} className="small" data-quota-kind={w.kind} title={`${w.model}: ${KIND_LABEL[w.kind] ?? humanize(w.kind)}`}>
            <div className="row faint" style={{ gap: 6, justifyContent: "space-between" }}>
              <span className="truncate">{KIND_LABEL[w.kind] ?? humanize(w.kind)}</span>
              <span className="tnum">
                {amount(w)} · full in <Countdown untilMs={w.reset_ms} />
              </span>
            </div>
            {s !== null && (
              <div className="bar-track" role="meter" aria-label={`${KIND_LABEL[w.kind] ?? w.kind} left`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(s * 100)}>
                <div className="bar-fill" style={{ width: `${Math.round(s * 100)}%`, background: s < 0.1 ? "var(--red)" : undefined }} />
              </div>
            )}
          </div>
        );
      })}
      {b && (
        <span className={`small ${b.low ? "" : "faint"}`} data-testid="key-balance" title={b.error ?? `Checked ${new Date(b.checked_ms).toLocaleString()}`}>
          {b.amount !== null && b.amount !== undefined
            ? `Balance ${b.amount.toLocaleString(undefined, { maximumFractionDigits: 2 })} ${b.currency ?? ""}${b.low ? " — too low, key paused" : ""}`
            : `Balance unknown: ${b.error ?? "not checked"}`}
        </span>
      )}
    </div>
  );
}
