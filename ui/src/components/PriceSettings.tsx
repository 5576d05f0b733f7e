// Prices: the table requests are priced with (bundled snapshot or a loaded file) and a
// provider's own price for one of its models, which wins over the table.

import { type FormEvent, useEffect, useState } from "react";
import { CircleDollarSign, Upload } from "lucide-react";
import { Card, Pill, SkeletonRows } from "./ui";
import { useToast } from "./Toasts";
import { api, apiBase, getAdminToken, must } from "../api/client";
import { useProviders } from "../api/queries";
import type { ModelPrice, ModelPricing, PriceTableView } from "../api/types";
import { invalidate, useQuery } from "../lib/query";

const PRICE_FIELDS: { key: keyof ModelPrice; label: string }[] = [
  { key: "input", label: "Input" },
  { key: "output", label: "Output" },
  { key: "cache_read", label: "Cache read" },
  { key: "cache_write", label: "Cache write" },
  { key: "reasoning", label: "Reasoning" },
];

/** Sends a price file as it is (the admin API checks it and names the entry at fault). */
async function uploadPrices(file: File): Promise<PriceTableView> {
  const resp = await fetch(`${apiBase()}/api/v1/prices?source=${encodeURIComponent(file.name)}`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${getAdminToken() ?? ""}`, "Content-Type": "application/json" },
    body: await file.text(),
  });
  const body = await resp.json();
  if (!resp.ok) throw new Error(body?.error?.field ? `${body.error.field}: ${body.error.message}` : (body?.error?.message ?? `HTTP ${resp.status}`));
  return body as PriceTableView;
}

export function PriceSettings() {
  const table = useQuery<PriceTableView>("prices", () => must(api.GET("/api/v1/prices")));
  const providers = useProviders();
  const toast = useToast();
  const [provider, setProvider] = useState("");
  const [model, setModel] = useState("");
  const [pricing, setPricing] = useState<ModelPricing | null>(null);
  const [draft, setDraft] = useState<Record<keyof ModelPrice, string>>({ input: "", output: "", cache_read: "", cache_write: "", reasoning: "" });

  useEffect(() => {
    if (!provider && providers.data?.length) setProvider(providers.data[0].name);
  }, [providers.data, provider]);

  const show = (p: ModelPricing) => {
    setPricing(p);
    setDraft({
      input: p.price.input?.toString() ?? "",
      output: p.price.output?.toString() ?? "",
      cache_read: p.price.cache_read?.toString() ?? "",
      cache_write: p.price.cache_write?.toString() ?? "",
      reasoning: p.price.reasoning?.toString() ?? "",
    });
  };
  const lookup = async (e: FormEvent) => {
    e.preventDefault();
    try {
      show(await must(api.GET("/api/v1/prices/model", { params: { query: { provider, model } } })));
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    }
  };
  const save = async (clear: boolean) => {
    const num = (v: string) => (v.trim() === "" ? null : Number(v));
    const body: ModelPrice = clear
      ? { input: null, output: null, cache_read: null, cache_write: null, reasoning: null }
      : { input: num(draft.input), output: num(draft.output), cache_read: num(draft.cache_read), cache_write: num(draft.cache_write), reasoning: num(draft.reasoning) };
    try {
      show(await must(api.PUT("/api/v1/prices/model", { params: { query: { provider, model } }, body })));
      invalidate("providers");
      toast.ok(clear ? `${provider}/${model} priced from the table again` : `Price of ${provider}/${model} saved`);
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    }
  };
  const upload = async (file: File | undefined) => {
    if (!file) return;
    try {
      const t = await uploadPrices(file);
      invalidate("prices");
      toast.ok(`Loaded prices of ${t.models.toLocaleString()} models`);
    } catch (err) {
      toast.error(`Price file refused — ${err instanceof Error ? err.message : String(err)}. The old table stays.`);
    }
  };

  return (
    <Card title="Prices" icon={<CircleDollarSign size={16} />}>
      <div className="card-body stack">
        {!table.data ? (
          <SkeletonRows rows={2} />
        ) : (
          <dl className="kv" aria-label="Price table" style={{ overflowWrap: "anywhere" }}>
            <dt>Table</dt>
            <dd>{table.data.source}</dd>
            <dt>Models</dt>
            <dd className="tnum">{table.data.models.toLocaleString()}</dd>
            <dt>Loaded</dt>
            <dd>{table.data.loaded_at_ms ? new Date(table.data.loaded_at_ms).toLocaleString() : `bundled, ${table.data.bundled_date}`}</dd>
          </dl>
        )}
        <div className="row wrap">
          <label className="btn sm">
            <Upload size={13} /> Load price file…
            <input type="file" accept="application/json,.json" className="sr-only" aria-label="Price file" onChange={(e) => upload(e.target.files?.[0])} />
          </label>
          <span className="small faint">LiteLLM's model_prices_and_context_window.json format; also `switchboard prices update --from FILE|URL`.</span>
        </div>
        <form className="form-grid" onSubmit={lookup} aria-label="Model price">
          <label className="field">
            <span>Provider</span>
            <select className="input" value={provider} onChange={(e) => setProvider(e.target.value)}>
              {(providers.data ?? []).map((p) => (
                <option key={p.name}>{p.name}</option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Model</span>
            <input className="input mono" value={model} onChange={(e) => setModel(e.target.value)} placeholder="deepseek-chat" required />
          </label>
          <div>
            <button type="submit" className="btn" disabled={!provider}>
              Show price
            </button>
          </div>
        </form>
        {pricing && (
          <div className="stack" aria-label={`Price of ${pricing.provider}/${pricing.model}`}>
            <div className="row wrap">
              <span className="mono">
                {pricing.provider}/{pricing.model}
              </span>
              <Pill color={pricing.overridden ? "blue" : ""}>{pricing.overridden ? "provider's own price" : "from the table"}</Pill>
              {pricing.context_window != null && <span className="small faint">context {pricing.context_window.toLocaleString()} tokens</span>}
            </div>
            <div className="form-grid">
              {PRICE_FIELDS.map((f) => (
                <label className="field" key={f.key}>
                  <span>{f.label}</span>
                  <input className="input mono" inputMode="decimal" value={draft[f.key]} onChange={(e) => setDraft((d) => ({ ...d, [f.key]: e.target.value }))} placeholder="—" />
                  <span className="hint">USD per million tokens</span>
                </label>
              ))}
            </div>
            <div className="row wrap">
              <button type="button" className="btn primary" onClick={() => save(false)}>
                Save as this provider's price
              </button>
              {pricing.overridden && (
                <button type="button" className="btn ghost" onClick={() => save(true)}>
                  Use the table's price
                </button>
              )}
            </div>
          </div>
        )}
      </div>
    </Card>
  );
}
