// Integrations: point each AI tool on this machine at this Switchboard in one click, with the
// exact change shown first (access key masked), the original backed up, and undo.

import { useEffect, useState } from "react";
import { Blocks, Eye, RotateCcw, TriangleAlert, Wand2 } from "lucide-react";
import { PageHeader } from "../components/PageHeader";
import { Card, EmptyState, ErrorNote, Pill, SkeletonRows } from "../components/ui";
import { Dialog } from "../components/Dialog";
import { DiffView } from "../components/DiffView";
import { useToast } from "../components/Toasts";
import { api, must } from "../api/client";
import { useRoutes, useStatus } from "../api/queries";
import type { components } from "../api/schema";
import { invalidate, setQueryData, useQuery } from "../lib/query";
import { Link } from "../lib/router";

type S = components["schemas"];
type ToolView = S["ToolView"];
type ToolsView = S["ToolsView"];
type ModelMap = S["ModelMap"];
type ToolPreview = S["ToolPreview"];

const TOOLS_KEY = "integrations";
const useTools = () => useQuery<ToolsView>(TOOLS_KEY, () => must(api.GET("/api/v1/integrations")));

const STATUS: Record<string, { label: string; color: string }> = {
  configured: { label: "Configured", color: "green" },
  drifted: { label: "Changed since", color: "amber" },
  not_configured: { label: "Not configured", color: "" },
  not_installed: { label: "Not found", color: "" },
};

/** Which model slots each tool reads. */
const SLOTS: Record<string, (keyof ModelMap)[]> = {
  codex: ["main"],
  "claude-code": ["main", "small", "opus", "sonnet", "haiku"],
  opencode: ["main", "small"],
  "gemini-cli": ["main"],
  aider: ["main", "small"],
  "qwen-code": ["main"],
  crush: ["main", "small"],
  "kilo-code": ["main", "small"],
  cline: ["main"],
  "roo-code": ["main"],
  continue: ["main"],
  goose: ["main"],
  zed: ["main", "small"],
  openclaw: ["main", "small"],
  pi: ["main", "small"],
};

const SLOT_LABEL: Record<keyof ModelMap, string> = {
  main: "Main model",
  small: "Small / fast model",
  opus: "Claude “opus”",
  sonnet: "Claude “sonnet”",
  haiku: "Claude “haiku”",
};

function replaceTool(t: ToolView) {
  setQueryData<ToolsView>(TOOLS_KEY, (old) => (old ? { ...old, tools: old.tools.map((x) => (x.id === t.id ? t : x)) } : old));
}

export function Integrations() {
  const tools = useTools();
  const routes = useRoutes();
  const status = useStatus();
  const aliases = (routes.data ?? []).map((r) => r.alias);
  const [models, setModels] = useState<ModelMap>({ main: "" });
  useEffect(() => {
    if (!models.main && aliases.length > 0) setModels((m) => ({ ...m, main: aliases[0] }));
  }, [aliases, models.main]);

  return (
    <>
      <PageHeader title="Integrations" />
      <div className="content">
        {status.data && !status.data.routing && (
          <div className="callout" role="alert">
            <TriangleAlert size={16} />
            <div>Routing is switched off: tools you configure will be refused until it is on again.</div>
          </div>
        )}
        <Card title="Models tools ask for" icon={<Wand2 size={16} />}>
          <div className="card-body stack">
            <p className="muted small">
              Tools are pointed at <code className="mono">{tools.data?.endpoint ?? "this Switchboard"}</code> with its access key, and ask for these aliases. Tools that have one model use the main one;
              empty slots fall back to the main model (haiku to the small one).
            </p>
            <ModelSelects aliases={aliases} value={models} onChange={setModels} />
          </div>
        </Card>
        {tools.error ? (
          <Card>
            <ErrorNote error={tools.error} onRetry={tools.reload} />
          </Card>
        ) : !tools.data ? (
          <Card>
            <SkeletonRows rows={5} />
          </Card>
        ) : tools.data.tools.length === 0 ? (
          <Card>
            <EmptyState icon={<Blocks size={22} />} title="No tools known" />
          </Card>
        ) : (
          <div className="grid two">
            {tools.data.tools.map((t) => (
              <ToolCard key={t.id} tool={t} models={models} />
            ))}
          </div>
        )}
      </div>
    </>
  );
}

function ModelSelects({ aliases, value, onChange }: { aliases: string[]; value: ModelMap; onChange: (m: ModelMap) => void }) {
  const slots: (keyof ModelMap)[] = ["main", "small", "opus", "sonnet", "haiku"];
  const options = value.main && !aliases.includes(value.main) ? [value.main, ...aliases] : aliases;
  if (aliases.length === 0) {
    return (
      <div className="callout info">
        <div>
          No routes yet: add one on <Link to="/routes">Routes</Link> first, or type an alias a provider serves.
          <input className="input mono" aria-label="Main model alias" value={value.main} placeholder="alias" onChange={(e) => onChange({ ...value, main: e.target.value })} />
        </div>
      </div>
    );
  }
  return (
    <div className="form-grid">
      {slots.map((slot) => (
        <label key={slot} className="field">
          <span>{SLOT_LABEL[slot]}</span>
          <select
            className="select"
            value={value[slot] ?? ""}
            onChange={(e) => onChange({ ...value, [slot]: e.target.value || (slot === "main" ? "" : null) })}
          >
            {slot !== "main" && <option value="">Same as {slot === "haiku" ? "small" : "main"}</option>}
            {options.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
      ))}
    </div>
  );
}

function ToolCard({ tool, models }: { tool: ToolView; models: ModelMap }) {
  const toast = useToast();
  const [preview, setPreview] = useState<ToolPreview | null>(null);
  const [busy, setBusy] = useState<"" | "preview" | "apply" | "undo">("");
  const [lastBackup, setLastBackup] = useState<string | null>(null);
  const st = STATUS[tool.status] ?? { label: tool.status, color: "" };
  const configured = tool.status === "configured" || tool.status === "drifted";
  const slots = SLOTS[tool.id] ?? ["main"];
  const body = () => {
    const m: ModelMap = { main: models.main };
    for (const s of slots) if (s !== "main" && models[s]) m[s] = models[s];
    return { models: m };
  };
  const run = async <T,>(kind: "preview" | "apply" | "undo", f: () => Promise<T>): Promise<T | null> => {
    setBusy(kind);
    try {
      return await f();
    } catch (e) {
      toast.error(`${tool.name}: ${e instanceof Error ? e.message : String(e)}`);
      return null;
    } finally {
      setBusy("");
    }
  };
  const doPreview = async () => {
    const p = await run("preview", () => must(api.POST("/api/v1/integrations/{tool}/preview", { params: { path: { tool: tool.id } }, body: body() })));
    if (p) setPreview(p);
  };
  const doApply = async () => {
    const r = await run("apply", () => must(api.POST("/api/v1/integrations/{tool}/apply", { params: { path: { tool: tool.id } }, body: body() })));
    if (!r) return;
    setPreview(null);
    replaceTool(r.tool);
    const backup = r.files.find((f) => f.backup)?.backup ?? null;
    setLastBackup(backup);
    toast.ok(r.changed ? `${tool.name} now uses Switchboard${backup ? "; the original is backed up" : ""}` : `${tool.name} was already configured`);
    for (const w of r.warnings) toast.error(`${tool.name}: ${w}`);
  };
  const doUndo = async () => {
    const r = await run("undo", () => must(api.POST("/api/v1/integrations/{tool}/undo", { params: { path: { tool: tool.id } } })));
    if (!r) return;
    replaceTool(r.tool);
    setLastBackup(null);
    const exact = r.files.every((f) => f.restored === "exact" || f.restored === "deleted");
    toast.ok(exact ? `${tool.name} is back as it was` : `${tool.name}: Switchboard's settings removed, your later edits kept`);
    invalidate(TOOLS_KEY);
  };

  return (
    <Card
      title={tool.name}
      icon={<Blocks size={16} />}
      actions={
        <Pill color={st.color} title={tool.status}>
          {st.label}
        </Pill>
      }
    >
      <div className="card-body stack" data-tool={tool.id}>
        <dl className="kv">
          <dt>Version</dt>
          <dd>{tool.version ?? (tool.binary ? "unknown" : "not on PATH")}</dd>
          <dt>Config</dt>
          <dd className="mono truncate" title={tool.config_path}>
            {tool.config_path}
            {!tool.config_exists && <span className="faint"> (will be created)</span>}
          </dd>
          {lastBackup && (
            <>
              <dt>Backup</dt>
              <dd className="mono truncate" title={lastBackup}>
                {lastBackup}
              </dd>
            </>
          )}
        </dl>
        {tool.status === "drifted" && (
          <p className="small muted">
            Changed since Switchboard wrote it{tool.changed_keys.length > 0 ? `: ${tool.changed_keys.join(", ")}` : " (only your own settings)"}. Undo keeps your edits.
          </p>
        )}
        <div className="row wrap">
          <button type="button" className="btn" onClick={doPreview} disabled={!!busy || !models.main}>
            <Eye size={14} /> {busy === "preview" ? "Loading…" : configured ? "Preview update" : "Preview"}
          </button>
          {configured && (
            <button type="button" className="btn" onClick={doUndo} disabled={!!busy}>
              <RotateCcw size={14} /> {busy === "undo" ? "Undoing…" : "Undo"}
            </button>
          )}
        </div>
      </div>
      {preview && (
        <Dialog
          wide
          title={`${tool.name}: what will change`}
          onClose={() => setPreview(null)}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setPreview(null)}>
                Cancel
              </button>
              <button type="button" className="btn primary" onClick={doApply} disabled={!!busy || !preview.files.some((f) => f.changed)} data-autofocus>
                {busy === "apply" ? "Applying…" : "Apply"}
              </button>
            </>
          }
        >
          <div className="stack">
            {preview.warnings.map((w) => (
              <div key={w} className="callout">
                <TriangleAlert size={16} />
                <div>{w}</div>
              </div>
            ))}
            {preview.files.map((f) => (
              <div key={f.path} className="stack">
                <div className="mono small">{f.path}</div>
                {f.changed ? <DiffView diff={f.diff} /> : <p className="muted small">Already configured: nothing to change.</p>}
              </div>
            ))}
            <p className="faint small">The access key is masked here; the file gets the real one. The original is backed up before the first change, and Undo restores it.</p>
          </div>
        </Dialog>
      )}
    </Card>
  );
}
