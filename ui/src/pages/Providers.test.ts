import { describe, expect, it } from "vitest";
import { pastedKeys } from "./Providers";

describe("pasted keys", () => {
  it("takes one key per line, dropping blank lines and surrounding spaces", () => {
    expect(pastedKeys("sk-a\r\n\n  sk-b  \n\t\nenv:KEY_C\n")).toEqual(["sk-a", "sk-b", "env:KEY_C"]);
    expect(pastedKeys("  sk-only ")).toEqual(["sk-only"]);
    expect(pastedKeys(" \n ")).toEqual([]);
  });
});
