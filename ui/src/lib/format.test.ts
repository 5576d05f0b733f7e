import { describe, expect, it } from "vitest";
import { keyShown, formatAgo, formatCount, formatCountdown, formatMs, formatPercent, humanize, secretStoreLabel } from "./format";

describe("formatCountdown", () => {
  it.each([
    [0, "now"],
    [-5, "now"],
    [1, "1s"],
    [999, "1s"],
    [7_000, "7s"],
    [59_001, "1m 00s"],
    [65_000, "1m 05s"],
    [3_600_000, "1h 00m"],
    [3_725_000, "1h 02m"],
    [90_000_000, "1d 01h"],
    [Number.NaN, "now"],
  ])("%d ms → %s", (ms, want) => {
    expect(formatCountdown(ms)).toBe(want);
  });
});

describe("other formats", () => {
  it("formats latencies", () => {
    expect(formatMs(null)).toBe("—");
    expect(formatMs(850)).toBe("850 ms");
    expect(formatMs(1240)).toBe("1.24 s");
    expect(formatMs(12_340)).toBe("12.3 s");
  });
  it("formats counts and percents", () => {
    expect(formatCount(950)).toBe("950");
    expect(formatCount(1234)).toBe("1.2k");
    expect(formatCount(3_400_000)).toBe("3.4M");
    expect(formatPercent(0)).toBe("0%");
    expect(formatPercent(0.0234)).toBe("2.3%");
    expect(formatPercent(0.5)).toBe("50%");
  });
  it("formats relative times", () => {
    expect(formatAgo(1000, 3000)).toBe("just now");
    expect(formatAgo(0, 42_000)).toBe("42s ago");
    expect(formatAgo(0, 5 * 60_000)).toBe("5m ago");
  });
  it("humanizes reasons", () => {
    expect(humanize("insufficient_balance")).toBe("insufficient balance");
    expect(humanize(null)).toBe("");
  });
  it("names the secret store", () => {
    expect(secretStoreLabel("os_keychain")).toBe("OS keychain");
    expect(secretStoreLabel("encrypted_file")).toBe("encrypted file");
    expect(secretStoreLabel("some_new_store")).toBe("some new store");
  });
});

describe("keyShown", () => {
  it("shows the variable, the last four, or says a short key is not shown", () => {
    expect(keyShown({ env_ref: "env:OPENAI_API_KEY", last4: "" })).toBe("env:OPENAI_API_KEY");
    expect(keyShown({ last4: "cdef" })).toBe("••••cdef");
    expect(keyShown({ last4: "" })).toBe("short key, not shown");
  });
});
