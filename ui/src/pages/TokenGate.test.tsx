import { afterEach, describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { TokenGate } from "./TokenGate";

afterEach(() => vi.unstubAllGlobals());

describe("TokenGate", () => {
  it("shows the prefix real admin tokens have", () => {
    render(<TokenGate onToken={() => {}} />);
    expect(screen.getByPlaceholderText("sbadm-…")).toBeTruthy();
  });

  it("signs in with a name and password and reports the session's user", async () => {
    const calls: { method: string; body?: string }[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (_url: string, init?: RequestInit) => {
        calls.push({ method: init?.method ?? "GET", body: init?.body as string | undefined });
        if (_url.endsWith("/oidc/options")) return new Response(JSON.stringify({ enabled: true }), { status: 200 });
        if (init?.method === "POST") return new Response(JSON.stringify({ name: "vera", role: "viewer", via: "session" }), { status: 200 });
        return new Response(JSON.stringify({ name: "vera", role: "viewer", via: "session", expires_at_ms: 1 }), { status: 200 });
      }),
    );
    const onSession = vi.fn();
    render(<TokenGate onToken={() => {}} onSession={onSession} />);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "vera" } });
    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "a-long-password" } });
    fireEvent.click(screen.getByRole("button", { name: /Sign in/ }));
    await waitFor(() => expect(onSession).toHaveBeenCalledWith({ name: "vera", role: "viewer" }));
    const post = calls.find((c) => c.method === "POST");
    expect(JSON.parse(post?.body ?? "{}")).toEqual({ name: "vera", password: "a-long-password" });
    // Single sign-on is configured: its button leads to the identity provider's start.
    expect(screen.getByTestId("sso-sign-in").getAttribute("href")).toContain("/api/v1/session/oidc/start");
  });

  it("says so when the name or password is wrong", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => new Response(JSON.stringify({ error: { message: "Wrong name or password." } }), { status: 401 })),
    );
    const onSession = vi.fn();
    render(<TokenGate onToken={() => {}} onSession={onSession} />);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "vera" } });
    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "wrong-password" } });
    fireEvent.click(screen.getByRole("button", { name: /Sign in/ }));
    expect((await screen.findByRole("alert")).textContent).toContain("Wrong name or password");
    expect(onSession).not.toHaveBeenCalled();
  });
});
