import { ArrowDown, CircleSlash, KeyRound, MessageSquare } from "lucide-react";
import type { FlowPlan } from "../api/types";
import { Countdown, Pill } from "./ui";
import { humanize } from "../lib/format";

const REASONS: Record<string, string> = {
  provider_disabled: "provider disabled",
  no_keys: "provider has no enabled keys",
  cooling: "cooling down",
  auth_error: "key rejected (auth error)",
  probing: "being probed: one request decides",
  unknown_provider: "unknown provider",
};

/** How a request for an alias would flow right now: the first target+key tried, the order after it, and what is skipped and why. */
export function FlowView({ plan }: { plan: FlowPlan }) {
  const firstIdx = plan.steps.findIndex((s) => s.verdict === "would_try");
  let n = 0;
  return (
    <div className="flow" data-testid="flow-view">
      <div className="flow-client">
        <MessageSquare size={16} />
        <span>
          A request for <code>{plan.alias}</code>
        </span>
        <span className="spacer" />
        <Pill color="accent">{humanize(plan.strategy)}</Pill>
        {plan.inferred && <Pill title="No route: served by the provider that offers this model">inferred</Pill>}
      </div>
      {plan.steps.length === 0 && <p className="muted small" style={{ padding: "10px 22px" }}>No targets.</p>}
      {plan.steps.map((s, i) => {
        const tried = s.verdict === "would_try";
        const first = i === firstIdx;
        if (tried) n++;
        return (
          <div key={`${s.provider}-${s.model}-${s.key_id ?? "x"}-${i}`} className={`flow-step ${first ? "first" : ""} ${tried ? "" : "skipped"}`} data-verdict={s.verdict}>
            <span className="flow-index" aria-hidden="true">
              {tried ? n : <CircleSlash size={13} />}
            </span>
            <div className="flow-box">
              <div className="row wrap">
                <span className="flow-target">
                  <strong>{s.provider}</strong> <span className="mono">{s.model}</span>
                </span>
                {s.key_label && (
                  <span className="tag key-ref" title="key">
                    <KeyRound size={10} aria-hidden="true" /> {s.key_label}
                  </span>
                )}
              </div>
              <span className="small faint">
                {first ? "Tried first" : tried ? (s.reason === "probing" ? REASONS.probing : "Next if the one before fails") : `Skipped: ${REASONS[s.reason ?? ""] ?? humanize(s.reason)}`}
                {s.until_ms ? (
                  <>
                    {" "}
                    · back in <Countdown untilMs={s.until_ms} />
                  </>
                ) : null}
              </span>
            </div>
            <span>{first ? <Pill color="green">first</Pill> : tried ? <Pill color={s.reason === "probing" ? "blue" : ""}>{s.reason === "probing" ? "probe" : "fallback"}</Pill> : <Pill color={s.reason === "auth_error" ? "red" : s.reason === "cooling" ? "amber" : ""}>skipped</Pill>}</span>
          </div>
        );
      })}
      {plan.steps.length > 0 && firstIdx === -1 && (
        <div className="callout" role="status" style={{ marginTop: 10 }}>
          <ArrowDown size={15} />
          <div>Nothing is usable right now: a request would get a clear error naming the earliest recovery time.</div>
        </div>
      )}
    </div>
  );
}
