// Alert webhooks: where the router sends key cooldowns, unusable aliases and budget alerts
// (coalesced like the desktop notifications). The URL is write-only; the signing secret is
// shown once.

import { type FormEvent, useState } from "react";
import { BellRing, Send, Trash2 } from "lucide-react";
import { Card, CopyButton, EmptyState, Pill, SkeletonRows, Switch } from "./ui";
import { ConfirmDialog, Dialog } from "./Dialog";
import { useToast } from "./Toasts";
import { api, must } from "../api/client";
import type { CreatedWebhook, WebhookFormat, WebhookView } from "../api/types";
import { invalidate, useQuery } from "../lib/query";

export function AlertSettings() {
  const q = useQuery<WebhookView[]>("webhooks", () => must(api.GET("/api/v1/webhooks")));
  const toast = useToast();
  const [label, setLabel] = useState("");
  const [url, setUrl] = useState("");
  const [format, setFormat] = useState<WebhookFormat>("json");
  const [created, setCreated] = useState<CreatedWebhook | null>(null);
  const [deleting, setDeleting] = useState<WebhookView | null>(null);
  const [testing, setTesting] = useState<number | null>(null);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const c = await must(api.POST("/api/v1/webhooks", { body: { label, url, format } }));
      setCreated(c);
      setLabel("");
      setUrl("");
      invalidate("webhooks");
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    }
  };
  const test = async (w: WebhookView) => {
    setTesting(w.id);
    try {
      const r = await must(api.POST("/api/v1/webhooks/{id}/test", { params: { path: { id: w.id } } }));
      if (r.delivered) toast.ok(`Test alert delivered to ${w.label}`);
      else toast.error(`Not delivered to ${w.label} after ${r.attempts} tries: ${r.error ?? "no answer"}`);
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    } finally {
      setTesting(null);
    }
  };
  const toggle = async (w: WebhookView, enabled: boolean) => {
    try {
      await must(api.PATCH("/api/v1/webhooks/{id}", { params: { path: { id: w.id } }, body: { enabled } }));
      invalidate("webhooks");
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    }
  };
  const remove = async (w: WebhookView) => {
    setDeleting(null);
    try {
      await must(api.DELETE("/api/v1/webhooks/{id}", { params: { path: { id: w.id } } }));
      invalidate("webhooks");
      toast.ok(`Webhook ${w.label} deleted`);
    } catch (err) {
      toast.error(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <Card title="Alerts" icon={<BellRing size={16} />}>
      <div className="card-body stack">
        <p className="small faint">
          Key cooldowns, failed authentication, keys out of balance, unusable aliases, recoveries and client budgets are sent to these receivers — a burst is one message. Each
          request carries <span className="mono">x-switchboard-signature: t=…,v1=…</span>, the HMAC-SHA256 of <span className="mono">t.body</span> with the webhook's signing secret.
        </p>
        {!q.data ? (
          <SkeletonRows rows={2} />
        ) : q.data.length === 0 ? (
          <EmptyState icon={<BellRing size={18} />} title="No webhooks">
            Add one to hear about problems on a server without the desktop app.
          </EmptyState>
        ) : (
          <div className="table-wrap">
          <table aria-label="Webhooks">
            <thead>
              <tr>
                <th>Name</th>
                <th>Receiver</th>
                <th>Format</th>
                <th>On</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {q.data.map((w) => (
                <tr key={w.id}>
                  <td>{w.label}</td>
                  <td className="mono small">{w.url_hint}</td>
                  <td>
                    <Pill>{w.format}</Pill>
                  </td>
                  <td>
                    <Switch checked={w.enabled} onChange={(v) => toggle(w, v)} label={`Send alerts to ${w.label}`} />
                  </td>
                  <td>
                    <div className="row wrap">
                    <button type="button" className="btn sm" onClick={() => test(w)} disabled={testing === w.id}>
                      <Send size={13} /> {testing === w.id ? "Sending…" : "Send a test"}
                    </button>
                    <button type="button" className="btn sm ghost icon" aria-label={`Delete webhook ${w.label}`} title={`Delete webhook ${w.label}`} onClick={() => setDeleting(w)}>
                      <Trash2 size={13} />
                    </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
        )}
        <form className="form-grid" onSubmit={add} aria-label="Add a webhook">
          <label className="field">
            <span>Name</span>
            <input className="input" value={label} onChange={(e) => setLabel(e.target.value)} placeholder="ops channel" maxLength={64} />
          </label>
          <label className="field">
            <span>URL</span>
            <input className="input mono" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://hooks.slack.com/services/…" required />
          </label>
          <label className="field">
            <span>Format</span>
            <select className="input" value={format} onChange={(e) => setFormat(e.target.value as WebhookFormat)}>
              <option value="json">JSON</option>
              <option value="slack">Slack</option>
            </select>
          </label>
          <div>
            <button type="submit" className="btn primary">
              Add webhook
            </button>
          </div>
        </form>
      </div>
      {created && (
        <Dialog title="Webhook added" onClose={() => setCreated(null)} footer={<button type="button" className="btn primary" onClick={() => setCreated(null)}>Done</button>}>
          <p>Its signing secret is shown only now. Receivers check each request's signature with it.</p>
          <div className="row wrap">
            <code className="code-box" data-testid="signing-secret">{created.signing_secret}</code>
            <CopyButton text={created.signing_secret} />
          </div>
        </Dialog>
      )}
      {deleting && (
        <ConfirmDialog title={`Delete webhook “${deleting.label}”?`} confirmLabel="Delete webhook" onConfirm={() => remove(deleting)} onClose={() => setDeleting(null)}>
          Alerts stop going to {deleting.url_hint}.
        </ConfirmDialog>
      )}
    </Card>
  );
}
