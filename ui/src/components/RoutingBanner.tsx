import { PowerOff } from "lucide-react";
import { api, must } from "../api/client";
import { useStatus } from "../api/queries";
import { setQueryData } from "../lib/query";
import { useToast } from "./Toasts";
import type { Status } from "../api/types";

/** On every page while routing is off: tools get 503 until it is turned back on. */
export function RoutingBanner() {
  const status = useStatus();
  const toast = useToast();
  if (!status.data || status.data.routing) return null;
  const turnOn = async () => {
    try {
      await must(api.PUT("/api/v1/routing", { body: { enabled: true } }));
      setQueryData<Status>("status", (s) => (s ? { ...s, routing: true } : s));
      toast.ok("Routing is on");
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <div className="routing-off" role="alert" data-testid="routing-off">
      <PowerOff size={16} aria-hidden="true" />
      <span className="spacer">
        <strong>Routing is off.</strong> Tools get 503 for every request until it is turned back on.
      </span>
      <button type="button" className="btn sm" onClick={turnOn}>
        Turn routing on
      </button>
    </div>
  );
}
