"""Requests shaped like the real coding CLIs' (CLIENTS.md), sent as raw HTTP through the
router, asserting the exact event sequence those clients depend on.

- Codex: Responses API, always streaming, developer input item, `namespace` and hosted tools,
  `include`, ids on every item. It takes the answer from `response.output_item.done` and needs
  `response.completed` to end the stream.
- Claude Code: `/v1/messages?beta=true`, streaming, a `system` message inside `messages`,
  `thinking: adaptive`, 25 tools in JSON Schema 2020-12. It needs content_block_start / deltas
  (`input_json_delta` for tool input) / content_block_stop / message_delta / message_stop.
"""

from __future__ import annotations

import json

import httpx

from conftest import hello

TOOL_RESULT = "Sunny, 21 C, light breeze"
WEATHER_QUESTION = "What is the weather in Paris?"


def sse_events(resp: httpx.Response) -> list[tuple[str | None, dict | str]]:
    """(event name, parsed data) for every event of an SSE response."""
    assert resp.status_code == 200, resp.read()
    assert resp.headers["content-type"].startswith("text/event-stream")
    events, name, data = [], None, []
    for line in resp.iter_lines():
        if line == "":
            if data:
                raw = "\n".join(data)
                events.append((name, raw if raw == "[DONE]" else json.loads(raw)))
            name, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        raw = "\n".join(data)
        events.append((name, raw if raw == "[DONE]" else json.loads(raw)))
    return events


def collapse(types: list[str], repeated: str) -> list[str]:
    """Runs of `repeated` folded into one, so sequences compare independent of chunking."""
    out: list[str] = []
    for t in types:
        if t == repeated and out and out[-1] == repeated:
            continue
        out.append(t)
    return out


# ---- Codex -----------------------------------------------------------------------------

CODEX_TOOLS = [
    {
        "type": "function",
        "name": "shell",
        "description": "Runs a shell command and returns its output.",
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {
                "command": {"type": "array", "items": {"type": "string"}},
                "workdir": {"type": "string"},
                "timeout_ms": {"type": "number"},
            },
            "required": ["command"],
            "additionalProperties": False,
        },
    },
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city.",
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    {
        "type": "namespace",
        "name": "mcp__docs",
        "description": "Tools of the docs MCP server.",
        "tools": [
            {
                "type": "function",
                "name": "search",
                "description": "Searches the docs.",
                "strict": False,
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}},
                    "required": ["query"],
                },
            }
        ],
    },
    {"type": "web_search"},
]


def codex_body(model: str, input_items: list[dict]) -> dict:
    return {
        "model": model,
        "instructions": None,
        "input": input_items,
        "tools": CODEX_TOOLS,
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199a0b1-codex-session",
        "client_metadata": {"originator": "codex_cli_rs"},
    }


def codex_prefix() -> list[dict]:
    return [
        {
            "type": "message",
            "id": "msg_dev_1",
            "role": "developer",
            "content": [
                {"type": "input_text", "text": "You are Codex, a coding agent. Be precise."}
            ],
        },
        {
            "type": "message",
            "id": "msg_env_1",
            "role": "user",
            "content": [{"type": "input_text", "text": "<environment_context>cwd=/tmp</environment_context>"}],
        },
    ]


def codex_user(text: str, n: int) -> dict:
    return {
        "type": "message",
        "id": f"msg_user_{n}",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


def codex_post(router, body: dict) -> list:
    body = {k: v for k, v in body.items() if v is not None}
    headers = {
        "authorization": f"Bearer {router.access_key}",
        "session-id": "0199a0b1-codex-session",
        "x-client-request-id": "0199a0b1-codex-request",
        "originator": "codex_cli_rs",
        "accept": "text/event-stream",
        "openai-beta": "responses=experimental",
    }
    with httpx.stream(
        "POST", f"{router.v1}/responses", json=body, headers=headers, timeout=30
    ) as resp:
        return sse_events(resp)


def check_responses_stream(events: list) -> tuple[list[str], dict]:
    """Every event named and typed alike, sequence numbers increasing, one terminal
    `response.completed` carrying the whole response. Returns (types, final response)."""
    types = []
    seqs = []
    for name, data in events:
        assert isinstance(data, dict), f"unexpected data {data!r}"
        assert name == data["type"], (name, data["type"])
        types.append(data["type"])
        if "sequence_number" in data:
            seqs.append(data["sequence_number"])
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert types.count("response.completed") == 1
    final = events[-1][1]["response"]
    assert final["status"] == "completed"
    return types, final


def test_codex_text(router, alias):
    events = codex_post(router, codex_body(alias, codex_prefix() + [codex_user("Say hello.", 1)]))
    types, final = check_responses_stream(events)
    # The full normal sequence of CLIENTS.md, text deltas folded.
    assert collapse(types, "response.output_text.delta") == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ], types

    done = [d["item"] for n, d in events if n == "response.output_item.done"]
    messages = [i for i in done if i["type"] == "message"]
    assert len(messages) == 1
    assert messages[0]["role"] == "assistant"
    assert messages[0]["content"][0]["type"] == "output_text"
    assert messages[0]["content"][0]["text"] == hello(alias)
    delta_text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    assert delta_text == hello(alias)
    assert final["model"] == alias
    assert [i["type"] for i in final["output"]][-1] == "message"


def test_codex_tool_round(router, alias):
    prefix = codex_prefix() + [codex_user(WEATHER_QUESTION, 1)]
    events = codex_post(router, codex_body(alias, prefix))
    types, final = check_responses_stream(events)
    body = collapse(types, "response.function_call_arguments.delta")
    assert body[-5:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ], body
    call = [d["item"] for n, d in events if n == "response.output_item.done"][-1]
    assert call["type"] == "function_call"
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    assert call["call_id"]
    args_done = next(d for n, d in events if n == "response.function_call_arguments.done")
    assert json.loads(args_done["arguments"]) == {"city": "Paris"}
    assert final["output"][-1]["call_id"] == call["call_id"]

    # Codex echoes the function_call item back (with its id) and adds the output.
    echoed = {k: call[k] for k in ("type", "id", "call_id", "name", "arguments") if k in call}
    second = prefix + [
        echoed,
        {"type": "function_call_output", "call_id": call["call_id"], "output": TOOL_RESULT},
    ]
    events = codex_post(router, codex_body(alias, second))
    types, final = check_responses_stream(events)
    assert "response.output_item.done" in types
    done = [d["item"] for n, d in events if n == "response.output_item.done"]
    text = "".join(
        c["text"] for i in done if i["type"] == "message" for c in i["content"]
    )
    assert TOOL_RESULT in text


def test_codex_namespace_tool_is_accepted(router):
    # The namespace tool must not make any upstream reject the request; a text answer
    # proves it was translated (flattened) or passed through.
    for alias in ("via-chat", "via-anthropic", "via-gemini"):
        events = codex_post(router, codex_body(alias, codex_prefix() + [codex_user("Hi.", 1)]))
        check_responses_stream(events)


# ---- Claude Code -----------------------------------------------------------------------

SCHEMA = "https://json-schema.org/draft/2020-12/schema"


def claude_tools() -> list[dict]:
    tools = [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "input_schema": {
                "$schema": SCHEMA,
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        }
    ]
    for i in range(24):
        tools.append(
            {
                "name": f"Tool{i:02d}",
                "description": f"Tool number {i} of the coding agent. " * 4,
                "input_schema": {
                    "$schema": SCHEMA,
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "An absolute path"},
                        "limit": {"type": "integer", "exclusiveMinimum": 0},
                        "mode": {"type": "string", "enum": ["read", "write"]},
                        "options": {
                            "type": "object",
                            "properties": {"recursive": {"type": "boolean"}},
                            "additionalProperties": False,
                        },
                    },
                    "required": ["path"],
                    "additionalProperties": False,
                },
            }
        )
    tools[-1]["cache_control"] = {"type": "ephemeral"}
    return tools


def claude_body(model: str, messages: list[dict]) -> dict:
    return {
        "model": model,
        "max_tokens": 32000,
        "stream": True,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {
                "type": "text",
                "text": "You are an interactive CLI tool that helps users with software engineering tasks.",
                "cache_control": {"type": "ephemeral"},
            },
        ],
        "messages": messages,
        "tools": claude_tools(),
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "user_abc_account_def_session_0199a0b1"},
    }


def claude_first_turn(question: str, alias: str) -> list[dict]:
    turn = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>Context: cwd /tmp</system-reminder>"},
                {"type": "text", "text": question, "cache_control": {"type": "ephemeral"}},
            ],
        },
        {"role": "system", "content": "Reminder: be concise and use tools when helpful."},
    ]
    if alias == "via-anthropic":
        # Passed through verbatim, and the mock reads the last message literally: a system
        # message there would hide the question from it. Keep it inside `messages`, before
        # the user turn.
        turn.reverse()
    return turn


def claude_post(router, body: dict) -> list:
    headers = {
        "authorization": f"Bearer {router.access_key}",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
        "context-management-2025-06-27,prompt-caching-scope-2026-01-05,effort-2025-11-24",
        "x-app": "cli",
        "user-agent": "claude-cli/2.1.197 (external, cli)",
        "accept": "application/json",
    }
    with httpx.stream(
        "POST", f"{router.v1}/messages?beta=true", json=body, headers=headers, timeout=30
    ) as resp:
        return sse_events(resp)


def check_anthropic_stream(events: list) -> list[str]:
    types = []
    open_blocks: set[int] = set()
    for name, data in events:
        assert isinstance(data, dict), f"unexpected data {data!r}"
        assert name == data["type"], (name, data["type"])
        types.append(data["type"])
        if data["type"] == "content_block_start":
            assert data["index"] not in open_blocks
            open_blocks.add(data["index"])
        elif data["type"] == "content_block_delta":
            assert data["index"] in open_blocks
        elif data["type"] == "content_block_stop":
            open_blocks.remove(data["index"])
    assert not open_blocks, "a content block was never stopped"
    assert types[0] == "message_start"
    assert types[-2:] == ["message_delta", "message_stop"]
    return types


def test_claude_code_tool_round(router, alias):
    first_turn = claude_first_turn(WEATHER_QUESTION, alias)
    events = claude_post(router, claude_body(alias, first_turn))
    types = check_anthropic_stream(events)
    start = events[0][1]["message"]
    assert start["model"] == alias and start["role"] == "assistant"

    tool_starts = [
        d for n, d in events
        if n == "content_block_start" and d["content_block"]["type"] == "tool_use"
    ]
    assert len(tool_starts) == 1, types
    block = tool_starts[0]
    idx = block["index"]
    assert block["content_block"]["name"] == "get_weather"
    assert block["content_block"]["id"]
    assert block["content_block"]["input"] == {}
    deltas = [d["delta"] for n, d in events if n == "content_block_delta" and d["index"] == idx]
    assert deltas and all(d["type"] == "input_json_delta" for d in deltas)
    assert json.loads("".join(d["partial_json"] for d in deltas)) == {"city": "Paris"}
    block_events = [
        d["type"] for n, d in events if d.get("index") == idx
    ]
    assert collapse(block_events, "content_block_delta") == [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
    ]
    msg_delta = next(d for n, d in events if n == "message_delta")
    assert msg_delta["delta"]["stop_reason"] == "tool_use"
    assert msg_delta["usage"]["output_tokens"] > 0

    # The tool round: assistant tool_use echoed back, tool_result in a user turn.
    tool_id = block["content_block"]["id"]
    messages = [
        *first_turn,
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": tool_id, "name": "get_weather", "input": {"city": "Paris"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_id,
                    "content": [{"type": "text", "text": TOOL_RESULT}],
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
    ]
    events = claude_post(router, claude_body(alias, messages))
    check_anthropic_stream(events)
    text = "".join(
        d["delta"]["text"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "text_delta"
    )
    assert TOOL_RESULT in text
    msg_delta = next(d for n, d in events if n == "message_delta")
    assert msg_delta["delta"]["stop_reason"] == "end_turn"


def test_claude_code_text(router, alias):
    events = claude_post(router, claude_body(alias, claude_first_turn("Say hello.", alias)))
    types = check_anthropic_stream(events)
    text_blocks = [
        d["index"] for n, d in events
        if n == "content_block_start" and d["content_block"]["type"] == "text"
    ]
    assert len(text_blocks) == 1, types
    text = "".join(
        d["delta"]["text"]
        for n, d in events
        if n == "content_block_delta" and d["index"] == text_blocks[0]
    )
    assert text == hello(alias)


def test_claude_code_probe(router):
    # Claude Code sends `HEAD /` without auth first; any quick answer but a 5xx is fine.
    resp = httpx.head(f"{router.root}/", timeout=5)
    assert resp.status_code < 500
