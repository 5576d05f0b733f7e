import { beforeEach, describe, expect, it, vi } from "vitest";
import { bootstrapToken, TOKEN_KEY } from "./token";

function fakeLocation(href: string): Location {
  const u = new URL(href);
  return { hash: u.hash, pathname: u.pathname, search: u.search } as Location;
}

describe("bootstrapToken", () => {
  beforeEach(() => localStorage.clear());

  it("takes the token from the fragment, stores it and strips it from the URL", () => {
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    const t = bootstrapToken(fakeLocation("http://127.0.0.1:9911/requests?status=5xx#token=sb-admin-123"), localStorage, history);
    expect(t).toBe("sb-admin-123");
    expect(localStorage.getItem(TOKEN_KEY)).toBe("sb-admin-123");
    expect(history.replaceState).toHaveBeenCalledWith(null, "", "/requests?status=5xx");
  });

  it("keeps other fragment parameters", () => {
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    bootstrapToken(fakeLocation("http://127.0.0.1/#token=abc&x=1"), localStorage, history);
    expect(history.replaceState).toHaveBeenCalledWith(null, "", "/#x=1");
  });

  it("falls back to the stored token and leaves the URL alone", () => {
    localStorage.setItem(TOKEN_KEY, "stored");
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    expect(bootstrapToken(fakeLocation("http://127.0.0.1/providers"), localStorage, history)).toBe("stored");
    expect(history.replaceState).not.toHaveBeenCalled();
  });

  it("returns null without any token", () => {
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    expect(bootstrapToken(fakeLocation("http://127.0.0.1/"), localStorage, history)).toBeNull();
  });

  it("ignores an empty fragment token but still strips it", () => {
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    expect(bootstrapToken(fakeLocation("http://127.0.0.1/#token="), localStorage, history)).toBeNull();
    expect(history.replaceState).toHaveBeenCalled();
  });
});
