import { describe, expect, it } from "vitest";
import { SseParser, readSse, type SseEvent } from "./sse";

const fixture =
  ": keep-alive\n\nevent: health\ndata: {\"a\":1}\n\n" +
  "event: request\r\ndata:line one\r\ndata: line two\r\nid: 7\r\n\r\n" +
  "data: plain é ✓\r\r" +
  "event: ignored-without-data\n\n" +
  "event: done\ndata\n\n";

const expected: SseEvent[] = [
  { event: "health", data: "{\"a\":1}" },
  { event: "request", data: "line one\nline two", id: "7" },
  { event: "message", data: "plain é ✓", id: "7" },
  { event: "done", data: "", id: "7" },
];

describe("SseParser", () => {
  it("parses whole input", () => {
    expect(new SseParser().push(fixture)).toEqual(expected);
  });

  it("gives the same events however the input is split", () => {
    for (let i = 0; i <= fixture.length; i++) {
      const p = new SseParser();
      const got = [...p.push(fixture.slice(0, i)), ...p.push(fixture.slice(i))];
      expect(got, `split at ${i}`).toEqual(expected);
    }
  });

  it("handles one character at a time", () => {
    const p = new SseParser();
    const got: SseEvent[] = [];
    for (const ch of fixture) got.push(...p.push(ch));
    expect(got).toEqual(expected);
  });

  it("holds an unterminated event", () => {
    const p = new SseParser();
    expect(p.push("event: x\ndata: 1\n")).toEqual([]);
    expect(p.push("\n")).toEqual([{ event: "x", data: "1" }]);
  });
});

describe("readSse", () => {
  it("decodes UTF-8 split across byte chunks", async () => {
    const bytes = new TextEncoder().encode("event: health\ndata: café ✓\n\n");
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    const got: SseEvent[] = [];
    await readSse(body, (e) => got.push(e));
    expect(got).toEqual([{ event: "health", data: "café ✓" }]);
  });
});
