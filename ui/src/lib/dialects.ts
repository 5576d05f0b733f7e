// The four client dialects the router speaks: how the playground builds a streaming request
// in each, and how it reads the answer's text back out of each stream.

import type { SseEvent } from "./sse";

export type Dialect = "openai_chat" | "openai_responses" | "anthropic" | "gemini";

export const CLIENT_DIALECTS: { id: Dialect; label: string; path: string }[] = [
  { id: "openai_chat", label: "OpenAI Chat", path: "/v1/chat/completions" },
  { id: "openai_responses", label: "OpenAI Responses", path: "/v1/responses" },
  { id: "anthropic", label: "Anthropic Messages", path: "/v1/messages" },
  { id: "gemini", label: "Gemini", path: "/v1beta/models/{model}:streamGenerateContent?alt=sse" },
];

export interface PlaygroundRequest {
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

export function buildRequest(dialect: Dialect, model: string, prompt: string, system: string, maxTokens = 1024): PlaygroundRequest {
  const sys = system.trim();
  switch (dialect) {
    case "openai_chat":
      return {
        path: "/v1/chat/completions",
        headers: {},
        body: { model, stream: true, stream_options: { include_usage: true }, max_tokens: maxTokens, messages: [...(sys ? [{ role: "system", content: sys }] : []), { role: "user", content: prompt }] },
      };
    case "openai_responses":
      return { path: "/v1/responses", headers: {}, body: { model, stream: true, max_output_tokens: maxTokens, ...(sys ? { instructions: sys } : {}), input: [{ role: "user", content: prompt }] } };
    case "anthropic":
      return {
        path: "/v1/messages",
        headers: { "anthropic-version": "2023-06-01" },
        body: { model, stream: true, max_tokens: maxTokens, ...(sys ? { system: sys } : {}), messages: [{ role: "user", content: prompt }] },
      };
    case "gemini":
      return {
        path: `/v1beta/models/${encodeURIComponent(model)}:streamGenerateContent?alt=sse`,
        headers: {},
        body: {
          contents: [{ role: "user", parts: [{ text: prompt }] }],
          ...(sys ? { systemInstruction: { parts: [{ text: sys }] } } : {}),
          generationConfig: { maxOutputTokens: maxTokens },
        },
      };
  }
}

export interface StreamPiece {
  text?: string;
  reasoning?: string;
  error?: string;
  done?: boolean;
}

/** What one stream event adds to the answer, per dialect. */
export function readEvent(dialect: Dialect, ev: SseEvent): StreamPiece {
  if (ev.data === "[DONE]") return { done: true };
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(ev.data) as Record<string, unknown>;
  } catch {
    return {};
  }
  const str = (x: unknown) => (typeof x === "string" ? x : undefined);
  const errorText = (e: unknown): string | undefined => {
    if (!e) return undefined;
    if (typeof e === "string") return e;
    const m = (e as { message?: unknown }).message;
    return typeof m === "string" ? m : JSON.stringify(e);
  };
  if (v.error) return { error: errorText(v.error) };
  switch (dialect) {
    case "openai_chat": {
      const choice = (v.choices as { delta?: { content?: unknown; reasoning_content?: unknown } }[] | undefined)?.[0];
      return { text: str(choice?.delta?.content), reasoning: str(choice?.delta?.reasoning_content) };
    }
    case "openai_responses": {
      const type = str(v.type) ?? ev.event;
      if (type === "response.output_text.delta") return { text: str(v.delta) };
      if (type === "response.reasoning_summary_text.delta" || type === "response.reasoning_text.delta") return { reasoning: str(v.delta) };
      if (type === "response.completed") return { done: true };
      if (type === "response.failed" || type === "error") return { error: errorText((v.response as { error?: unknown } | undefined)?.error ?? v) };
      return {};
    }
    case "anthropic": {
      const type = str(v.type) ?? ev.event;
      if (type === "content_block_delta") {
        const d = v.delta as { type?: string; text?: unknown; thinking?: unknown };
        if (d?.type === "text_delta") return { text: str(d.text) };
        if (d?.type === "thinking_delta") return { reasoning: str(d.thinking) };
      }
      if (type === "message_stop") return { done: true };
      return {};
    }
    case "gemini": {
      const parts = (v.candidates as { content?: { parts?: { text?: unknown; thought?: unknown }[] } }[] | undefined)?.[0]?.content?.parts ?? [];
      let text = "";
      let reasoning = "";
      for (const p of parts) {
        if (typeof p.text !== "string") continue;
        if (p.thought === true) reasoning += p.text;
        else text += p.text;
      }
      return { text: text || undefined, reasoning: reasoning || undefined };
    }
  }
}

/** The error message in a non-streaming error body of any dialect. */
export function errorOfBody(body: string): string {
  try {
    const v = JSON.parse(body) as { error?: { message?: string } | string; message?: string };
    if (typeof v.error === "string") return v.error;
    if (v.error && typeof v.error.message === "string") return v.error.message;
    if (typeof v.message === "string") return v.message;
  } catch {
    /* not JSON */
  }
  return body.slice(0, 500);
}
