// "Update available": the desktop app announces an update once it has downloaded it and
// verified its signature; installing needs the user's click (the app verifies again,
// installs and restarts). Headless servers never announce one.

import { useEffect, useState } from "react";
import { Download, Loader2 } from "lucide-react";
import { api, must } from "../api/client";
import { useStatus } from "../api/queries";
import { invalidate } from "../lib/query";
import { useToast } from "./Toasts";

/** How often the status is re-read while the dashboard stays open (updates arrive daily). */
const RECHECK_MS = 60_000;

export function UpdateBanner() {
  const status = useStatus();
  const toast = useToast();
  const [installing, setInstalling] = useState(false);
  useEffect(() => {
    const recheck = () => {
      if (document.visibilityState === "visible") invalidate("status");
    };
    const timer = setInterval(recheck, RECHECK_MS);
    document.addEventListener("visibilitychange", recheck);
    window.addEventListener("focus", recheck);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", recheck);
      window.removeEventListener("focus", recheck);
    };
  }, []);
  const update = status.data?.update;
  if (!update) return null;
  const install = async () => {
    setInstalling(true);
    try {
      await must(api.POST("/api/v1/update/install"));
    } catch (e) {
      setInstalling(false);
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <div className="callout info update-banner" role="status" data-testid="update-banner">
      <Download size={16} />
      <div className="spacer">
        <strong>Switchboard {update.version} is available.</strong>{" "}
        {installing ? "Installing — Switchboard restarts in a moment." : "Downloaded and verified; install it when you are ready."}
        {update.notes && <div className="small faint">{update.notes}</div>}
      </div>
      <button type="button" className="btn sm primary" onClick={install} disabled={installing} aria-busy={installing}>
        {installing ? <Loader2 size={13} className="spin" /> : null}
        <span>{installing ? "Installing…" : "Install and restart"}</span>
      </button>
    </div>
  );
}
