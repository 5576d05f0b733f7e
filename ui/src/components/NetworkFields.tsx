import { useState } from "react";
import type { ProxySetting } from "../api/types";

/** The mode choices; `global` (a provider's only) means "no setting of its own". */
type Choice = "global" | ProxySetting["mode"];

const CHOICES: { id: Choice; label: string }[] = [
  { id: "global", label: "Global setting" },
  { id: "system", label: "System proxy (environment)" },
  { id: "direct", label: "Direct (no proxy)" },
  { id: "url", label: "Proxy URL" },
];

/** A setting with nothing set yet (the server's defaults). */
export const NO_PROXY_SET: ProxySetting = { mode: "system", url: null, credential_ref: null, no_proxy: [] };

/** A comma- or space-separated NO_PROXY list as entries. */
export function noProxyList(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

/**
 * A proxy setting, seen and edited: the mode, the URL (credentials typed into it go to the
 * secret store when saved), NO_PROXY hosts and whether saved credentials are kept.
 * `value: null` is "the global setting" (only when `inherit`).
 */
export function ProxyFields({ value, onChange, inherit }: { value: ProxySetting | null; onChange: (p: ProxySetting | null) => void; inherit: boolean }) {
  const [noProxyText, setNoProxyText] = useState((value?.no_proxy ?? []).join(", "));
  const choice: Choice = value ? value.mode : "global";
  // Only the `url` mode has a URL (and credentials): leaving it drops them.
  const setChoice = (c: Choice) => onChange(c === "global" ? null : c === "url" ? { ...(value ?? NO_PROXY_SET), mode: c } : { ...(value ?? NO_PROXY_SET), mode: c, url: null, credential_ref: null });
  return (
    <fieldset className="stack" aria-label="Proxy setting" data-testid="proxy" style={{ border: 0, padding: 0, margin: 0 }}>
      <label className="field">
        <span>Proxy</span>
        <select className="select" name="proxy_mode" value={choice} onChange={(e) => setChoice(e.target.value as Choice)}>
          {CHOICES.filter((c) => inherit || c.id !== "global").map((c) => (
            <option key={c.id} value={c.id}>
              {c.label}
            </option>
          ))}
        </select>
        <span className="hint">
          {choice === "global"
            ? "As set in Settings → Upstream network."
            : choice === "system"
              ? "The desktop app follows the OS setting (GNOME); otherwise HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY of Switchboard's environment."
              : choice === "direct"
                ? "Straight to the provider, whatever the environment says."
                : "Every request goes through this proxy, except to the hosts below."}
        </span>
      </label>
      {value?.mode === "url" && (
        <>
          <label className="field">
            <span>Proxy URL</span>
            <input
              className="input mono"
              name="proxy_url"
              autoComplete="off"
              value={value.url ?? ""}
              placeholder="socks5h://127.0.0.1:1080"
              onChange={(e) => onChange({ ...value, url: e.target.value.trim() || null })}
            />
            <span className="hint">http://, https://, socks5:// or socks5h:// (names resolved by the proxy). A user:password@ written here is kept in the secret store, never shown again.</span>
          </label>
          {value.credential_ref && (
            <label className="check">
              <input
                type="checkbox"
                name="keep_credentials"
                checked
                onChange={() => onChange({ ...value, credential_ref: null })}
              />
              Keep the saved proxy credentials
            </label>
          )}
          <label className="field">
            <span>No proxy for</span>
            <input
              className="input mono"
              name="no_proxy"
              value={noProxyText}
              placeholder="localhost, .corp.example, 10.0.0.0/8"
              onChange={(e) => {
                setNoProxyText(e.target.value);
                onChange({ ...value, no_proxy: noProxyList(e.target.value) });
              }}
            />
            <span className="hint">Hosts reached directly: names (with their subdomains), IP addresses, CIDR blocks, or *.</span>
          </label>
        </>
      )}
    </fieldset>
  );
}

/** Where a provider's extra trusted roots come from. */
type CaChoice = "none" | "file" | "pem";

export type ProviderNetwork = {
  proxy: ProxySetting | null;
  ca_file: string | null;
  ca_pem: string | null;
  connect_ms: number;
  first_byte_ms: number;
};

/** A provider's network: its proxy, a custom CA bundle, connect and first-byte timeouts. */
export function ProviderNetworkFields({ value, onChange }: { value: ProviderNetwork; onChange: (n: ProviderNetwork) => void }) {
  const [ca, setCa] = useState<CaChoice>(value.ca_pem ? "pem" : value.ca_file ? "file" : "none");
  const pickCa = (c: CaChoice) => {
    setCa(c);
    onChange({ ...value, ca_file: c === "file" ? value.ca_file : null, ca_pem: c === "pem" ? value.ca_pem : null });
  };
  const seconds = (ms: number) => (ms ? ms / 1000 : "");
  const toMs = (text: string) => (text ? Math.round(Number(text) * 1000) : 0);
  return (
    <fieldset className="stack" aria-label="Network" data-testid="network" style={{ border: 0, padding: 0, margin: 0 }}>
      <span className="small faint">Network</span>
      <ProxyFields value={value.proxy} onChange={(proxy) => onChange({ ...value, proxy })} inherit />
      <div className="form-grid">
        <label className="field">
          <span>
            Connect timeout <span className="faint">(s)</span>
          </span>
          <input className="input tnum" type="number" min={0} step="any" name="connect_timeout" value={seconds(value.connect_ms)} placeholder="none" onChange={(e) => onChange({ ...value, connect_ms: toMs(e.target.value) })} />
          <span className="hint">TCP, proxy and TLS handshake; a key whose provider is not reached in time fails over.</span>
        </label>
        <label className="field">
          <span>
            First-byte timeout <span className="faint">(s)</span>
          </span>
          <input className="input tnum" type="number" min={0} step="any" name="first_byte_timeout" value={seconds(value.first_byte_ms)} placeholder="none" onChange={(e) => onChange({ ...value, first_byte_ms: toMs(e.target.value) })} />
          <span className="hint">From sending the request to the first content.</span>
        </label>
      </div>
      <label className="field">
        <span>Custom CA</span>
        <select className="select" name="ca" value={ca} onChange={(e) => pickCa(e.target.value as CaChoice)}>
          <option value="none">None (system roots)</option>
          <option value="file">PEM file on this machine</option>
          <option value="pem">PEM text</option>
        </select>
        <span className="hint">Extra roots trusted for this provider (a corporate or self-signed CA); the system&apos;s stay trusted.</span>
      </label>
      {ca === "file" && (
        <label className="field">
          <span>CA file</span>
          <input className="input mono" name="ca_file" value={value.ca_file ?? ""} placeholder="/etc/ssl/corp-ca.pem" onChange={(e) => onChange({ ...value, ca_file: e.target.value || null })} />
        </label>
      )}
      {ca === "pem" && (
        <label className="field">
          <span>CA certificates (PEM)</span>
          <textarea className="textarea mono" name="ca_pem" rows={4} value={value.ca_pem ?? ""} placeholder="-----BEGIN CERTIFICATE-----" onChange={(e) => onChange({ ...value, ca_pem: e.target.value || null })} />
        </label>
      )}
    </fieldset>
  );
}
