import { describe, expect, it } from "vitest";
import { buildRequest, errorOfBody, readEvent } from "./dialects";

describe("dialects", () => {
  it("builds a streaming request per dialect", () => {
    expect(buildRequest("openai_chat", "m", "hi", "").path).toBe("/v1/chat/completions");
    expect(buildRequest("anthropic", "m", "hi", "sys").headers["anthropic-version"]).toBe("2023-06-01");
    expect(buildRequest("gemini", "a b", "hi", "").path).toBe("/v1beta/models/a%20b:streamGenerateContent?alt=sse");
    expect((buildRequest("openai_responses", "m", "hi", "be brief").body as { instructions: string }).instructions).toBe("be brief");
  });

  it("reads text out of each dialect's stream", () => {
    expect(readEvent("openai_chat", { event: "message", data: '{"choices":[{"delta":{"content":"He"}}]}' })).toEqual({ text: "He", reasoning: undefined });
    expect(readEvent("openai_chat", { event: "message", data: "[DONE]" })).toEqual({ done: true });
    expect(readEvent("openai_responses", { event: "response.output_text.delta", data: '{"type":"response.output_text.delta","delta":"llo"}' })).toEqual({ text: "llo" });
    expect(readEvent("anthropic", { event: "content_block_delta", data: '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}' })).toEqual({ text: "x" });
    expect(readEvent("gemini", { event: "message", data: '{"candidates":[{"content":{"parts":[{"text":"g"}]}}]}' })).toEqual({ text: "g", reasoning: undefined });
    expect(readEvent("anthropic", { event: "error", data: '{"type":"error","error":{"type":"overloaded_error","message":"busy"}}' })).toEqual({ error: "busy" });
  });

  it("finds error messages in bodies", () => {
    expect(errorOfBody('{"error":{"message":"no route"}}')).toBe("no route");
    expect(errorOfBody("plain")).toBe("plain");
  });
});
