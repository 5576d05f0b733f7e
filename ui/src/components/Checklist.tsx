import { useEffect } from "react";
import { CircleCheck, Circle, ListChecks } from "lucide-react";
import { api, must } from "../api/client";
import { useStatus, useSummary } from "../api/queries";
import type { components } from "../api/schema";
import { useQuery } from "../lib/query";
import { Link } from "../lib/router";
import { Card } from "./ui";

type ToolsView = components["schemas"]["ToolsView"];

/** The steps from nothing to a tool's first request, as the server reports them. */
export function setupSteps(s: { providers: number; keys: number; routes: number; toolConfigured: boolean; requestSeen: boolean }) {
  return [
    { id: "provider", done: s.providers > 0, label: "Add a provider", to: "/providers?add=1" },
    { id: "keys", done: s.keys > 0, label: "Add its API keys", to: "/providers" },
    { id: "route", done: s.routes > 0, label: "Add a route (an alias your tools ask for)", to: "/routes" },
    { id: "tool", done: s.toolConfigured, label: "Configure a tool to use Switchboard", to: "/integrations" },
    { id: "request", done: s.requestSeen, label: "See its first request", to: "/requests" },
  ];
}

/** The Overview's getting-started checklist; gone once every step is done. */
export function Checklist() {
  const status = useStatus();
  const summary = useSummary();
  const tools = useQuery<ToolsView>("integrations", () => must(api.GET("/api/v1/integrations")));
  const first = useQuery<unknown[]>("first-request", () => must(api.GET("/api/v1/requests", { params: { query: { limit: 1 } } })));
  const total = summary.data?.requests ?? 0;
  const { reload } = first;
  useEffect(() => {
    if (total > 0) reload();
  }, [total, reload]);
  if (!status.data) return null;
  const steps = setupSteps({
    providers: status.data.providers,
    keys: status.data.keys,
    routes: status.data.routes,
    toolConfigured: (tools.data?.tools ?? []).some((t) => t.status === "configured" || t.status === "drifted"),
    requestSeen: total > 0 || (first.data?.length ?? 0) > 0,
  });
  if (steps.every((s) => s.done)) return null;
  const next = steps.find((s) => !s.done);
  return (
    <Card title="Get started" icon={<ListChecks size={16} />} actions={<span className="faint small">{steps.filter((s) => s.done).length} of {steps.length} done</span>}>
      <ol className="checklist" data-testid="checklist">
        {steps.map((s) => (
          <li key={s.id} data-step={s.id} data-done={s.done} className={s.done ? "done" : s === next ? "next" : undefined}>
            {s.done ? <CircleCheck size={16} aria-label="done" /> : <Circle size={16} aria-label="to do" />}
            {s.done ? <span>{s.label}</span> : <Link to={s.to}>{s.label}</Link>}
          </li>
        ))}
      </ol>
    </Card>
  );
}
