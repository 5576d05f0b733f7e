// Team mode's degradation, on every page: the shared PostgreSQL or Redis out of reach, and
// request records dropped because the write queue was full. The status is re-read every few
// seconds while the dashboard is visible, so the banner comes and goes with the outage.

import { useEffect } from "react";
import { DatabaseZap, Unplug } from "lucide-react";
import { useStatus } from "../api/queries";
import { invalidate } from "../lib/query";

/** How often the status is re-read while the dashboard is visible. */
export const DEGRADED_RECHECK_MS = 5_000;

export function DegradedBanner() {
  const status = useStatus();
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") invalidate("status");
    }, DEGRADED_RECHECK_MS);
    return () => clearInterval(timer);
  }, []);
  const s = status.data;
  if (!s) return null;
  const database = s.database === "unreachable";
  const redis = s.redis === "unreachable";
  const dropped = s.request_log_dropped ?? 0;
  if (!database && !redis && dropped === 0) return null;
  return (
    <div className="callout degraded" role="alert" data-testid="degraded-banner">
      {database ? <DatabaseZap size={16} aria-hidden="true" /> : <Unplug size={16} aria-hidden="true" />}
      <div className="spacer">
        {database && (
          <div data-testid="degraded-database">
            <strong>The shared database is unreachable.</strong> Requests are still routed with the last configuration;
            their records wait in memory ({s.request_log_waiting} waiting) and are written when it is back. Changes are
            refused until then.
          </div>
        )}
        {redis && (
          <div data-testid="degraded-redis">
            <strong>Redis is unreachable.</strong> Key health is not shared between instances: each one judges keys on its
            own until Redis answers again.
          </div>
        )}
        {dropped > 0 && (
          <div data-testid="degraded-dropped">
            {dropped} request {dropped === 1 ? "record was" : "records were"} dropped since this instance started: the
            write queue was full.
          </div>
        )}
      </div>
    </div>
  );
}
