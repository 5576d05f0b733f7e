import { beforeEach, describe, expect, it, vi } from "vitest";
import { bootstrapToken, TOKEN_KEY } from "./token";
import { parseFocus } from "./deeplink";

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

describe("deep links from the desktop app", () => {
  beforeEach(() => localStorage.clear());

  it("turns page and focus into the dashboard path and keeps the token out of the URL", () => {
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    const t = bootstrapToken(fakeLocation("http://127.0.0.1:9911/#token=adm&page=keys&focus=3,5"), localStorage, history);
    expect(t).toBe("adm");
    expect(history.replaceState).toHaveBeenCalledWith(null, "", "/providers?focus=3,5");
  });

  it("follows a page link with the stored token", () => {
    localStorage.setItem(TOKEN_KEY, "stored");
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    expect(bootstrapToken(fakeLocation("http://127.0.0.1/requests#page=routes"), localStorage, history)).toBe("stored");
    expect(history.replaceState).toHaveBeenCalledWith(null, "", "/routes");
  });

  it("stays where it is for an unknown page and drops what it cannot use", () => {
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    bootstrapToken(fakeLocation("http://127.0.0.1/usage#token=a&page=javascript:alert(1)&focus=1"), localStorage, history);
    expect(history.replaceState).toHaveBeenCalledWith(null, "", "/usage");
  });
});

describe("parseFocus", () => {
  it("keeps distinct positive integers only", () => {
    expect(parseFocus("3,5,3, 7 ,x,-1,1e3,")).toEqual([3, 5, 7]);
    expect(parseFocus(null)).toEqual([]);
    expect(parseFocus("1,".repeat(200) + "2")).toEqual([1, 2]);
    expect(parseFocus(Array.from({ length: 80 }, (_, i) => i + 1).join(","))).toHaveLength(50);
  });
});
