"""A checking proxy between the router and the mock upstream.

The mock answers whatever it is sent, so a request the router translated badly would still
get a happy answer. Real providers are stricter. This proxy forwards every request unchanged
and holds its body to the rules the real APIs enforce (and that the router's translation is
responsible for): tool calls and results that pair up by id, unique ids, roles each API
knows, signed thinking blocks, Gemini's closed set of request fields. Each broken rule is
recorded; the test fixture fails the test that caused it.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "keep-alive"}

CHAT_ROLES = {"system", "developer", "user", "assistant", "tool"}
OPENAI_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
GEMINI_FN_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$")
GEMINI_FIELDS = {
    "contents",
    "tools",
    "toolConfig",
    "systemInstruction",
    "generationConfig",
    "safetySettings",
    "cachedContent",
    "labels",
    # snake_case spellings google-genai sends, accepted by the API
    "tool_config",
    "system_instruction",
    "generation_config",
    "safety_settings",
    "cached_content",
}


def _is_json_object_text(s) -> bool:
    if not isinstance(s, str):
        return False
    try:
        return isinstance(json.loads(s), dict)
    except ValueError:
        return False


def check_chat(body: dict) -> list[str]:
    errs = []
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return ["`messages` must be a non-empty array"]
    open_calls: list[str] = []
    seen: set[str] = set()
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in CHAT_ROLES:
            errs.append(f"messages[{i}]: unknown role {role!r}")
        if role != "tool" and open_calls:
            errs.append(f"messages[{i}]: tool calls {open_calls} not answered before a {role} turn")
            open_calls = []
        if role == "assistant":
            for j, tc in enumerate(m.get("tool_calls") or []):
                tid = tc.get("id")
                if not tid:
                    errs.append(f"messages[{i}].tool_calls[{j}]: no id")
                elif tid in seen:
                    errs.append(f"messages[{i}].tool_calls[{j}]: id {tid!r} repeats")
                seen.add(tid)
                open_calls.append(tid)
                fn = tc.get("function") or {}
                if not OPENAI_TOOL_NAME.match(fn.get("name") or ""):
                    errs.append(f"messages[{i}].tool_calls[{j}]: bad name {fn.get('name')!r}")
                if not _is_json_object_text(fn.get("arguments")):
                    errs.append(f"messages[{i}].tool_calls[{j}]: arguments not a JSON object text")
            if not m.get("tool_calls") and m.get("content") in (None, "", []):
                errs.append(f"messages[{i}]: assistant turn with neither content nor tool calls")
        if role == "tool":
            tid = m.get("tool_call_id")
            if tid not in open_calls:
                errs.append(f"messages[{i}]: tool_call_id {tid!r} answers no open call")
            else:
                open_calls.remove(tid)
            if not isinstance(m.get("content"), (str, list)):
                errs.append(f"messages[{i}]: tool content must be a string or parts")
    for j, t in enumerate(body.get("tools") or []):
        if t.get("type") != "function" or not OPENAI_TOOL_NAME.match(
            (t.get("function") or {}).get("name") or ""
        ):
            errs.append(f"tools[{j}]: not a valid function tool: {json.dumps(t)[:120]}")
    return errs


def check_responses(body: dict) -> list[str]:
    errs = []
    items = body.get("input")
    if isinstance(items, str):
        return errs
    if not isinstance(items, list) or not items:
        return ["`input` must be a string or a non-empty array"]
    calls: dict[str, str] = {}
    for i, it in enumerate(items):
        kind = it.get("type", "message")
        if kind == "message":
            if it.get("role") not in {"user", "assistant", "system", "developer"}:
                errs.append(f"input[{i}]: unknown role {it.get('role')!r}")
        elif kind == "function_call":
            cid = it.get("call_id")
            if not cid:
                errs.append(f"input[{i}]: function_call without call_id")
            elif cid in calls:
                errs.append(f"input[{i}]: call_id {cid!r} repeats")
            calls[cid] = it.get("name")
            if not _is_json_object_text(it.get("arguments")):
                errs.append(f"input[{i}]: arguments not a JSON object text")
        elif kind == "function_call_output":
            if it.get("call_id") not in calls:
                errs.append(f"input[{i}]: output for unknown call_id {it.get('call_id')!r}")
            if not isinstance(it.get("output"), (str, list)):
                errs.append(f"input[{i}]: output must be a string or content list")
        elif kind == "reasoning":
            if not isinstance(it.get("summary"), list):
                errs.append(f"input[{i}]: reasoning item without a summary list")
        else:
            errs.append(f"input[{i}]: unexpected item type {kind!r}")
    for j, t in enumerate(body.get("tools") or []):
        if t.get("type") == "function" and not OPENAI_TOOL_NAME.match(t.get("name") or ""):
            errs.append(f"tools[{j}]: bad function name {t.get('name')!r}")
    return errs


def check_anthropic(body: dict) -> list[str]:
    errs = []
    if not isinstance(body.get("max_tokens"), int):
        errs.append("`max_tokens` is required")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return errs + ["`messages` must be a non-empty array"]
    seen: set[str] = set()
    pending: list[str] = []
    thinking = (body.get("thinking") or {}).get("type") == "enabled"
    if thinking:
        budget = body["thinking"].get("budget_tokens", 0)
        if budget < 1024 or budget >= body.get("max_tokens", 0):
            errs.append(f"thinking.budget_tokens {budget} out of range")
    for i, m in enumerate(msgs):
        role = m.get("role")
        content = m.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        if role == "system":
            # Claude Code's own shape, passed through unchanged: not the router's doing.
            continue
        if role not in {"user", "assistant"}:
            errs.append(f"messages[{i}]: unknown role {role!r}")
        if pending:
            results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
            if role != "user" or sorted(results) != sorted(pending):
                errs.append(
                    f"messages[{i}]: tool_use ids {pending} need tool_result blocks "
                    f"immediately after, got {results}"
                )
            pending = []
        elif role == "user" and any(b.get("type") == "tool_result" for b in blocks):
            errs.append(f"messages[{i}]: tool_result without a tool_use just before")
        if not blocks:
            errs.append(f"messages[{i}]: empty content")
        for j, b in enumerate(blocks):
            t = b.get("type")
            if t == "text" and not b.get("text"):
                errs.append(f"messages[{i}].content[{j}]: empty text block")
            if t == "tool_use":
                if role != "assistant":
                    errs.append(f"messages[{i}].content[{j}]: tool_use in a {role} turn")
                tid = b.get("id") or ""
                if not ANTHROPIC_ID.match(tid):
                    errs.append(f"messages[{i}].content[{j}]: tool_use id {tid!r} has bad form")
                if tid in seen:
                    errs.append(f"messages[{i}].content[{j}]: tool_use id {tid!r} repeats")
                seen.add(tid)
                pending.append(tid)
                if not isinstance(b.get("input"), dict):
                    errs.append(f"messages[{i}].content[{j}]: tool_use input not an object")
            if t == "thinking" and not b.get("signature"):
                errs.append(f"messages[{i}].content[{j}]: thinking block without signature")
            if t == "tool_result" and role != "user":
                errs.append(f"messages[{i}].content[{j}]: tool_result in a {role} turn")
    if pending:
        errs.append(f"conversation ends with unanswered tool_use ids {pending}")
    for j, t in enumerate(body.get("tools") or []):
        if "type" in t and t["type"] != "custom":
            continue  # server tools
        if not ANTHROPIC_TOOL_NAME.match(t.get("name") or ""):
            errs.append(f"tools[{j}]: bad name {t.get('name')!r}")
        if (t.get("input_schema") or {}).get("type") != "object":
            errs.append(f"tools[{j}]: input_schema must be an object schema")
    return errs


def check_gemini(body: dict) -> list[str]:
    errs = [f"unknown request field {k!r}" for k in body if k not in GEMINI_FIELDS]
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return errs + ["`contents` must be a non-empty array"]
    pending: list[str] = []
    for i, c in enumerate(contents):
        role = c.get("role")
        if role not in {"user", "model"}:
            errs.append(f"contents[{i}]: role must be user or model, not {role!r}")
        parts = c.get("parts")
        if not parts:
            errs.append(f"contents[{i}]: no parts")
            continue
        calls = [p.get("functionCall") or p.get("function_call") for p in parts]
        responses = [p.get("functionResponse") or p.get("function_response") for p in parts]
        calls = [x for x in calls if x]
        responses = [x for x in responses if x]
        if pending:
            names = [r.get("name") for r in responses]
            if role != "user" or sorted(names) != sorted(pending):
                errs.append(
                    f"contents[{i}]: calls {pending} need function responses next, got {names}"
                )
            pending = []
        elif responses:
            errs.append(f"contents[{i}]: function response without a call just before")
        if calls and role != "model":
            errs.append(f"contents[{i}]: functionCall in a {role} turn")
        for fc in calls:
            if not isinstance(fc.get("args", {}), dict):
                errs.append(f"contents[{i}]: functionCall args not an object")
            pending.append(fc.get("name"))
        for r in responses:
            if not isinstance(r.get("response"), dict):
                errs.append(f"contents[{i}]: functionResponse.response must be an object")
        for j, p in enumerate(parts):
            known = {
                "text", "thought", "thoughtSignature", "thought_signature", "inlineData",
                "inline_data", "fileData", "file_data", "functionCall", "function_call",
                "functionResponse", "function_response", "executableCode", "codeExecutionResult",
            }
            extra = set(p) - known
            if extra:
                errs.append(f"contents[{i}].parts[{j}]: unknown fields {sorted(extra)}")
            if not set(p) & (known - {"thought", "thoughtSignature", "thought_signature"}):
                errs.append(f"contents[{i}].parts[{j}]: part with no data")
    for t in body.get("tools") or []:
        for d in t.get("functionDeclarations") or t.get("function_declarations") or []:
            if not GEMINI_FN_NAME.match(d.get("name") or ""):
                errs.append(f"functionDeclarations: bad name {d.get('name')!r}")
            if "parameters" in d and "parametersJsonSchema" in d:
                errs.append("functionDeclarations: both parameters and parametersJsonSchema")
    return errs


GEMINI_EMBED_FIELDS = {"model", "content", "taskType", "title", "outputDimensionality"}


def check_gemini_embed(path: str, body: dict) -> list[str]:
    model = path.rsplit("/", 1)[-1].split(":", 1)[0]
    requests = body.get("requests") if ":batchEmbedContents" in path else [body]
    if not isinstance(requests, list) or not requests:
        return ["`requests` must be a non-empty array"]
    errs = []
    for i, r in enumerate(requests):
        unknown = set(r) - GEMINI_EMBED_FIELDS
        if unknown:
            errs.append(f"requests[{i}]: unknown fields {sorted(unknown)}")
        if not (r.get("content") or {}).get("parts"):
            errs.append(f"requests[{i}]: no content.parts")
        if ":batchEmbedContents" in path and r.get("model") != f"models/{model}":
            errs.append(f"requests[{i}]: model {r.get('model')!r} is not models/{model}")
    return errs


def check_embeddings(body: dict) -> list[str]:
    if not body.get("model"):
        return ["`model` is required"]
    if not isinstance(body.get("input"), (str, list)) or not body["input"]:
        return ["`input` must be a string or a non-empty array"]
    return []


def check_form(body: bytes) -> list[str]:
    """A multipart upload must still carry its file and a model."""
    errs = []
    if b'name="model"' not in body:
        errs.append("form has no `model` field")
    if b"filename=" not in body:
        errs.append("form has no file part")
    return errs


def check(path: str, body: dict) -> list[str]:
    if path.endswith("/chat/completions"):
        return check_chat(body)
    if path.endswith("/responses"):
        return check_responses(body)
    if path.endswith("/messages"):
        return check_anthropic(body)
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return check_gemini(body)
    if ":embedContent" in path or ":batchEmbedContents" in path:
        return check_gemini_embed(path, body)
    if path.endswith("/embeddings"):
        return check_embeddings(body)
    return []


class CheckingProxy:
    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.violations: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                content_type = self.headers.get("content-type") or ""
                if method == "POST" and raw:
                    if content_type.startswith("multipart/form-data"):
                        problems = check_form(raw)
                    else:
                        try:
                            problems = check(path, json.loads(raw))
                        except ValueError as e:
                            problems = [f"body is not JSON: {e}"]
                    with proxy._lock:
                        proxy.requests += 1
                        proxy.violations += [f"{path}: {p}" for p in problems]
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in HOP_BY_HOP and k.lower() != "host"
                }
                with httpx.Client(timeout=60) as client:
                    with client.stream(
                        method, proxy.target + self.path, content=raw, headers=headers
                    ) as resp:
                        self.send_response(resp.status_code)
                        for k, v in resp.headers.items():
                            if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding":
                                self.send_header(k, v)
                        self.send_header("connection", "close")
                        self.end_headers()
                        if method != "HEAD":
                            for chunk in resp.iter_raw():
                                self.wfile.write(chunk)
                                self.wfile.flush()

            def do_POST(self):
                self._forward("POST")

            def do_GET(self):
                self._forward("GET")

            def do_HEAD(self):
                self._forward("HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def take(self) -> list[str]:
        with self._lock:
            out, self.violations = self.violations, []
            return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
