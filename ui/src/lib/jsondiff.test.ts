import { describe, expect, it } from "vitest";
import { diffStats, lineDiff, prettyJson } from "./jsondiff";

describe("prettyJson", () => {
  it("sorts keys at every level and indents", () => {
    expect(prettyJson('{"b":1,"a":{"d":[{"z":1,"y":2}],"c":null}}')).toBe(
      ["{", '  "a": {', '    "c": null,', '    "d": [', "      {", '        "y": 2,', '        "z": 1', "      }", "    ]", "  },", '  "b": 1', "}"].join("\n"),
    );
  });
  it("leaves text that is not JSON as it is", () => {
    expect(prettyJson("data: [DONE]")).toBe("data: [DONE]");
    expect(prettyJson(undefined)).toBe("");
  });
});

describe("lineDiff", () => {
  it("keeps common lines and marks the changed ones", () => {
    const d = lineDiff("a\nb\nc\nd", "a\nx\nc\nd\ne", ["client", "upstream"]);
    expect(d.split("\n")).toEqual(["--- client", "+++ upstream", " a", "+x", "-b", " c", " d", "+e"]);
    expect(diffStats(d)).toEqual({ added: 2, removed: 1 });
  });
  it("compares a translated body key by key", () => {
    const client = prettyJson('{"model":"fast","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"stream":true}');
    const upstream = prettyJson('{"model":"gpt-x","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}');
    const d = lineDiff(client, upstream);
    expect(d).toContain('-  "model": "fast",');
    expect(d).toContain('+  "model": "gpt-x",');
    expect(d).toContain('   "max_tokens": 64,');
    expect(d).toContain('+  "stream_options": {');
  });
  it("an identical text has no changes; empty sides are all added or removed", () => {
    expect(diffStats(lineDiff("a\nb", "a\nb"))).toEqual({ added: 0, removed: 0 });
    expect(diffStats(lineDiff("", "a\nb"))).toEqual({ added: 2, removed: 0 });
    expect(diffStats(lineDiff("a", ""))).toEqual({ added: 0, removed: 1 });
  });
});
