import { describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen } from "@testing-library/react";
import { NO_PROXY_SET, ProviderNetworkFields, ProxyFields, noProxyList } from "./NetworkFields";

describe("NetworkFields", () => {
  it("reads a NO_PROXY list separated by commas or spaces", () => {
    expect(noProxyList(" localhost, .corp.example 10.0.0.0/8,,")).toEqual(["localhost", ".corp.example", "10.0.0.0/8"]);
  });

  it("sets a proxy URL and its NO_PROXY hosts, and drops saved credentials on request", () => {
    const onChange = vi.fn();
    const saved = { mode: "url" as const, url: "http://proxy.corp:3128", credential_ref: "proxy/abc", no_proxy: ["localhost"] };
    const { container } = render(<ProxyFields value={saved} onChange={onChange} inherit={false} />);
    // No "global" choice for the global setting itself.
    expect(screen.queryByRole("option", { name: "Global setting" })).toBeNull();
    expect((screen.getByLabelText(/No proxy for/) as HTMLInputElement).value).toBe("localhost");
    fireEvent.change(screen.getByLabelText(/Proxy URL/), { target: { value: " socks5h://u:p@10.0.0.1:1080 " } });
    expect(onChange).toHaveBeenLastCalledWith({ ...saved, url: "socks5h://u:p@10.0.0.1:1080" });
    fireEvent.change(screen.getByLabelText(/No proxy for/), { target: { value: "localhost, 10.0.0.0/8" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...saved, no_proxy: ["localhost", "10.0.0.0/8"] });
    const keep = screen.getByLabelText("Keep the saved proxy credentials") as HTMLInputElement;
    expect(keep.checked).toBe(true);
    fireEvent.click(keep);
    expect(onChange).toHaveBeenLastCalledWith({ ...saved, credential_ref: null });
    fireEvent.change(container.querySelector('select[name="proxy_mode"]')!, { target: { value: "direct" } });
    // Leaving the URL mode drops the URL and its credentials.
    expect(onChange).toHaveBeenLastCalledWith({ ...saved, mode: "direct", url: null, credential_ref: null });
  });

  it("edits a provider's proxy override, timeouts and CA", () => {
    const onChange = vi.fn();
    const value = { proxy: null, ca_file: null, ca_pem: null, connect_ms: 10_000, first_byte_ms: 120_000 };
    const { container } = render(<ProviderNetworkFields value={value} onChange={onChange} />);
    const mode = container.querySelector('select[name="proxy_mode"]') as HTMLSelectElement;
    expect(mode.value).toBe("global");
    fireEvent.change(mode, { target: { value: "url" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...value, proxy: { ...NO_PROXY_SET, mode: "url" } });
    expect((screen.getByLabelText(/Connect timeout/) as HTMLInputElement).value).toBe("10");
    fireEvent.change(screen.getByLabelText(/First-byte timeout/), { target: { value: "45" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...value, first_byte_ms: 45_000 });
    fireEvent.change(container.querySelector('select[name="ca"]')!, { target: { value: "file" } });
    fireEvent.change(screen.getByLabelText("CA file"), { target: { value: "/etc/ssl/corp.pem" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...value, ca_file: "/etc/ssl/corp.pem" });
  });
});
