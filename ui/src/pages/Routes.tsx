import { type FormEvent, useEffect, useState } from "react";
import { GitBranch, Pencil, Plus, Route as RouteIcon, Trash2, Workflow, X } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, EmptyState, ErrorNote, Pill, SkeletonRows } from "../components/ui";
import { ConfirmDialog, Dialog } from "../components/Dialog";
import { FlowView } from "../components/FlowView";
import { useToast } from "../components/Toasts";
import { api, must } from "../api/client";
import { usePlan, useProviders, useRoutes } from "../api/queries";
import { STRATEGIES, type Route, type Strategy, type Target } from "../api/types";
import { invalidate } from "../lib/query";
import { humanize } from "../lib/format";
import { Link, setQuery, useLocation } from "../lib/router";

export function Routes() {
  const routes = useRoutes();
  const providers = useProviders();
  const { query } = useLocation();
  const selected = query.get("alias") ?? routes.data?.[0]?.alias ?? null;
  const [editing, setEditing] = useState<Route | "new" | null>(null);
  const noProviders = providers.data && providers.data.length === 0;
  return (
    <>
      <PageHeader title="Routes">
        <button type="button" className="btn primary" onClick={() => setEditing("new")} disabled={!!noProviders}>
          <Plus size={15} /> New route
        </button>
      </PageHeader>
      <div className="content">
        {routes.error && !routes.data ? (
          <Card>
            <ErrorNote error={routes.error} onRetry={routes.reload} />
          </Card>
        ) : !routes.data ? (
          <Card>
            <SkeletonRows rows={4} />
          </Card>
        ) : routes.data.length === 0 ? (
          <Card>
            {noProviders ? (
              <EmptyState icon={<RouteIcon size={22} />} title="Add a provider first" action={<Link to="/providers?add=1" className="btn primary">Add a provider</Link>}>
                Routes map the model names your tools ask for to providers and models. Add a provider, then map a name like <code>gpt-5.5</code> to it.
              </EmptyState>
            ) : (
              <EmptyState
                icon={<RouteIcon size={22} />}
                title="No routes yet"
                action={
                  <button type="button" className="btn primary" onClick={() => setEditing("new")}>
                    <Plus size={15} /> Create a route
                  </button>
                }
              >
                A route is a model name your tools use (an alias like <code>gpt-5.5</code> or <code>claude-sonnet</code>) and the provider models that serve it, in order. Without one, a request's model name
                goes to the provider that lists it.
              </EmptyState>
            )}
          </Card>
        ) : (
          <div className="grid two">
            <Card title="Aliases" icon={<GitBranch size={16} />}>
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th>Alias</th>
                      <th>Strategy</th>
                      <th>Targets</th>
                      <th aria-label="Actions" />
                    </tr>
                  </thead>
                  <tbody>
                    {routes.data.map((r) => (
                      <tr key={r.alias} className={`clickable ${r.alias === selected ? "selected" : ""}`} onClick={() => setQuery({ alias: r.alias })} data-alias={r.alias}>
                        <td>
                          <button type="button" className="link-button mono" onClick={() => setQuery({ alias: r.alias })} aria-pressed={r.alias === selected}>
                            {r.alias}
                          </button>
                        </td>
                        <td>
                          <Pill>{humanize(r.strategy ?? "priority")}</Pill>
                        </td>
                        <td className="small wrap">
                          {r.targets.map((t, i) => (
                            <div key={i} className="anywhere">
                              <span className="muted">{t.provider}</span> <span className="mono">{t.model}</span>
                            </div>
                          ))}
                        </td>
                        <td>
                          <div className="row" style={{ justifyContent: "flex-end" }} onClick={(e) => e.stopPropagation()}>
                            <button type="button" className="btn sm ghost icon" aria-label={`Edit ${r.alias}`} title={`Edit ${r.alias}`} onClick={() => setEditing(r)}>
                              <Pencil size={13} />
                            </button>
                            <DeleteRoute alias={r.alias} />
                          </div>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Card>
            {selected && <FlowCard alias={selected} />}
          </div>
        )}
      </div>
      {editing && <RouteDialog route={editing === "new" ? null : editing} onClose={() => setEditing(null)} />}
    </>
  );
}

function FlowCard({ alias }: { alias: string }) {
  const plan = usePlan(alias);
  return (
    <Card title={<>Flow right now</>} icon={<Workflow size={16} />} actions={<span className="faint small">updates live with key health</span>}>
      <div className="card-body">{plan.error && !plan.data ? <ErrorNote error={plan.error} onRetry={plan.reload} /> : plan.data ? <FlowView plan={plan.data} /> : <SkeletonRows rows={3} />}</div>
    </Card>
  );
}

function DeleteRoute({ alias }: { alias: string }) {
  const toast = useToast();
  const [asking, setAsking] = useState(false);
  const remove = async () => {
    try {
      await must(api.DELETE("/api/v1/routes/{alias}", { params: { path: { alias } } }));
      invalidate("routes", "status", "plan");
      setQuery({ alias: null });
      toast.ok(`Deleted route ${alias}`);
    } catch (e) {
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <>
      <button type="button" className="btn sm ghost icon" aria-label={`Delete ${alias}`} title={`Delete ${alias}`} onClick={() => setAsking(true)}>
        <Trash2 size={13} />
      </button>
      {asking && (
        <ConfirmDialog title={`Delete route ${alias}?`} confirmLabel="Delete route" onConfirm={remove} onClose={() => setAsking(false)}>
          Tools asking for <span className="mono">{alias}</span> get an error until a route with that alias exists again.
        </ConfirmDialog>
      )}
    </>
  );
}

function RouteDialog({ route, onClose }: { route: Route | null; onClose: () => void }) {
  const providers = useProviders();
  const toast = useToast();
  const [alias, setAlias] = useState(route?.alias ?? "");
  const [strategy, setStrategy] = useState<Strategy>(route?.strategy ?? "priority");
  const [targets, setTargets] = useState<Target[]>(route?.targets ?? []);
  const [hedge, setHedge] = useState(route?.hedge_after_ms ? String(route.hedge_after_ms) : "");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (targets.length === 0 && providers.data?.length) setTargets([{ provider: providers.data[0].name, model: providers.data[0].models?.[0]?.id ?? "", priority: 0, weight: 1 }]);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [providers.data]);
  const update = (i: number, patch: Partial<Target>) => setTargets((ts) => ts.map((t, j) => (j === i ? { ...t, ...patch } : t)));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Route = {
        alias: alias.trim(),
        strategy,
        targets: targets.map((t) => ({ ...t, model: t.model.trim() })),
        hedge_after_ms: hedge.trim() ? Number(hedge) : null,
      };
      if (route) await must(api.PUT("/api/v1/routes/{alias}", { params: { path: { alias: route.alias } }, body }));
      else await must(api.POST("/api/v1/routes", { body }));
      invalidate("routes", "status", "plan");
      setQuery({ alias: body.alias });
      toast.ok(`Saved route ${body.alias}`);
      onClose();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={route ? `Edit ${route.alias}` : "New route"}
      wide
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="route-form" className="btn primary" disabled={busy || !alias.trim() || targets.length === 0 || targets.some((t) => !t.model.trim())}>
            {busy ? "Saving…" : "Save route"}
          </button>
        </>
      }
    >
      <form id="route-form" className="stack" onSubmit={submit}>
        <div className="form-grid">
          <label className="field">
            <span>Alias</span>
            <input className="input mono" value={alias} onChange={(e) => setAlias(e.target.value)} placeholder="gpt-5.5" disabled={!!route} data-autofocus />
            <span className="hint">The model name your tools send.</span>
          </label>
          <label className="field">
            <span>Strategy</span>
            <select className="select" value={strategy} onChange={(e) => setStrategy(e.target.value as Strategy)}>
              {STRATEGIES.map((s) => (
                <option key={s} value={s}>
                  {humanize(s)}
                </option>
              ))}
            </select>
            <span className="hint">How targets of equal priority share traffic.</span>
          </label>
          <label className="field">
            <span>Hedge after (ms)</span>
            <input className="input" type="number" min={1} name="hedge_after_ms" value={hedge} onChange={(e) => setHedge(e.target.value)} placeholder="off" />
            <span className="hint">Start the next target too when the first has not answered by then; the first answer wins. Can spend tokens twice.</span>
          </label>
        </div>
        <div className="col">
          <span className="small muted" style={{ fontWeight: 500 }}>
            Targets
          </span>
          {targets.map((t, i) => {
            const models = providers.data?.find((p) => p.name === t.provider)?.models ?? [];
            return (
              <div key={i} className="row wrap" data-testid="target-row">
                <select className="select" aria-label={`Target ${i + 1} provider`} value={t.provider} onChange={(e) => update(i, { provider: e.target.value })}>
                  {(providers.data ?? []).map((p) => (
                    <option key={p.name} value={p.name}>
                      {p.name}
                    </option>
                  ))}
                </select>
                <input className="input mono spacer" aria-label={`Target ${i + 1} model`} list={`models-${i}`} value={t.model} onChange={(e) => update(i, { model: e.target.value })} placeholder="upstream model" />
                <datalist id={`models-${i}`}>
                  {models.map((m) => (
                    <option key={m.id} value={m.id} />
                  ))}
                </datalist>
                <label className="row small muted">
                  priority
                  <input className="input" type="number" style={{ width: 64 }} value={t.priority ?? 0} onChange={(e) => update(i, { priority: Number(e.target.value) || 0 })} aria-label={`Target ${i + 1} priority`} />
                </label>
                <label className="row small muted">
                  weight
                  <input className="input" type="number" min={1} style={{ width: 64 }} value={t.weight ?? 1} onChange={(e) => update(i, { weight: Math.max(1, Number(e.target.value) || 1) })} aria-label={`Target ${i + 1} weight`} />
                </label>
                <button type="button" className="btn ghost icon sm" aria-label={`Remove target ${i + 1}`} title={`Remove target ${i + 1}`} onClick={() => setTargets((ts) => ts.filter((_, j) => j !== i))}>
                  <X size={14} />
                </button>
              </div>
            );
          })}
          <div>
            <button type="button" className="btn sm" onClick={() => setTargets((ts) => [...ts, { provider: providers.data?.[0]?.name ?? "", model: "", priority: ts.length, weight: 1 }])}>
              <Plus size={13} /> Add target
            </button>
          </div>
          <span className="hint faint small">Lower priority is tried first; a target is skipped while all its keys cool down.</span>
        </div>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </Dialog>
  );
}
