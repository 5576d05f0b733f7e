"""Reasoning through every upstream kind, read by each SDK in its own shape (Chat
`reasoning_content`, Responses reasoning items, Anthropic thinking blocks, Gemini thought parts),
and a tool round whose history carries that reasoning back the way each client sends it."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from conftest import hello, thought

TOOL_RESULT = "Cloudy, 14 C"
WEATHER_QUESTION = "What is the weather in Paris?"


@pytest.fixture
def oai(router) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.v1, api_key=router.access_key, max_retries=0, timeout=30)


@pytest.fixture
def ant(router) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=router.root, api_key=router.access_key, max_retries=0, timeout=30
    )


@pytest.fixture
def gem(router) -> genai.Client:
    return genai.Client(
        api_key=router.access_key, http_options=types.HttpOptions(base_url=router.root)
    )


# ---- Chat Completions ------------------------------------------------------------------

CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_chat_reasoning_content(oai, think_alias):
    resp = oai.chat.completions.create(
        model=think_alias, messages=[{"role": "user", "content": "Say hello."}]
    )
    msg = resp.choices[0].message
    assert msg.content == hello(think_alias)
    assert (msg.model_extra or {}).get("reasoning_content") == thought(think_alias)


def test_chat_reasoning_stream_tool_round(oai, think_alias):
    reasoning, calls = [], {}
    for chunk in oai.chat.completions.create(
        model=think_alias,
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
        tools=CHAT_TOOLS,
        stream=True,
    ):
        for c in chunk.choices:
            extra = c.delta.model_extra or {}
            if extra.get("reasoning_content"):
                reasoning.append(extra["reasoning_content"])
            for tc in c.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += tc.id or ""
                slot["name"] += (tc.function and tc.function.name) or ""
                slot["arguments"] += (tc.function and tc.function.arguments) or ""
    assert "".join(reasoning) == thought(think_alias)
    call = calls[0]
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"}

    # DeepSeek-style clients send the reasoning back on the assistant turn.
    second = oai.chat.completions.create(
        model=think_alias,
        messages=[
            {"role": "user", "content": WEATHER_QUESTION},
            {
                "role": "assistant",
                "content": "",
                "reasoning_content": "".join(reasoning),
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call["id"], "content": TOOL_RESULT},
        ],
        tools=CHAT_TOOLS,
    )
    assert TOOL_RESULT in second.choices[0].message.content


# ---- Responses -------------------------------------------------------------------------

RESPONSES_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    }
]


def test_responses_reasoning_item(oai, think_alias):
    resp = oai.responses.create(
        model=think_alias, input="Say hello.", include=["reasoning.encrypted_content"]
    )
    assert [i.type for i in resp.output] == ["reasoning", "message"]
    r = resp.output[0]
    texts = [s.text for s in r.summary] + [c.text for c in (r.content or [])]
    assert thought(think_alias) in texts
    assert resp.output_text == hello(think_alias)


def test_responses_reasoning_stream_tool_round(oai, think_alias):
    kinds = []
    with oai.responses.stream(
        model=think_alias,
        input=WEATHER_QUESTION,
        tools=RESPONSES_TOOLS,
        include=["reasoning.encrypted_content"],
        store=False,
    ) as stream:
        for event in stream:
            kinds.append(event.type)
        first = stream.get_final_response()
    assert kinds[-1] == "response.completed"
    assert [i.type for i in first.output] == ["reasoning", "function_call"]
    call = first.output[1]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}

    # Codex (store: false) sends every output item back, reasoning included.
    history = [{"role": "user", "content": WEATHER_QUESTION}]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT})
    with oai.responses.stream(
        model=think_alias,
        input=history,
        tools=RESPONSES_TOOLS,
        include=["reasoning.encrypted_content"],
        store=False,
    ) as stream:
        second = stream.get_final_response()
    assert TOOL_RESULT in second.output_text


# ---- Anthropic -------------------------------------------------------------------------

ANTHROPIC_TOOLS = [
    {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def test_anthropic_thinking_block(ant, think_alias):
    msg = ant.messages.create(
        model=think_alias,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "Say hello."}],
    )
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == thought(think_alias)
    assert isinstance(msg.content[0].signature, str)
    assert msg.content[1].text == hello(think_alias)


def test_anthropic_thinking_stream_tool_round(ant, think_alias):
    deltas = []
    with ant.messages.stream(
        model=think_alias,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        tools=ANTHROPIC_TOOLS,
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                deltas.append(event.delta.type)
        first = stream.get_final_message()
    assert "thinking_delta" in deltas and "input_json_delta" in deltas
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    assert first.content[0].thinking == thought(think_alias)
    use = first.content[1]
    assert use.name == "get_weather" and use.input == {"city": "Paris"}

    # Claude Code sends the thinking block (with its signature) back with the tool_use.
    with ant.messages.stream(
        model=think_alias,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        tools=ANTHROPIC_TOOLS,
        messages=[
            {"role": "user", "content": WEATHER_QUESTION},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": TOOL_RESULT}],
            },
        ],
    ) as stream:
        second = stream.get_final_message()
    texts = [b.text for b in second.content if b.type == "text"]
    assert texts and TOOL_RESULT in texts[-1]


# ---- Gemini ----------------------------------------------------------------------------


def gemini_tools(include_thoughts: bool = True) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="get_weather",
                        parameters_json_schema={
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                        },
                    )
                ]
            )
        ],
        thinking_config=types.ThinkingConfig(include_thoughts=include_thoughts),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def test_gemini_thought_parts(gem, think_alias):
    resp = gem.models.generate_content(
        model=think_alias,
        contents="Say hello.",
        config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(include_thoughts=True)
        ),
    )
    parts = resp.candidates[0].content.parts
    thoughts = [p.text for p in parts if p.thought]
    answers = [p.text for p in parts if not p.thought and p.text]
    assert thoughts == [thought(think_alias)]
    assert "".join(answers) == hello(think_alias)


def test_gemini_thought_stream_tool_round(gem, think_alias):
    parts: list[types.Part] = []
    for chunk in gem.models.generate_content_stream(
        model=think_alias, contents=WEATHER_QUESTION, config=gemini_tools()
    ):
        if chunk.candidates and chunk.candidates[0].content:
            parts += chunk.candidates[0].content.parts or []
    thoughts = "".join(p.text or "" for p in parts if p.thought)
    assert thoughts == thought(think_alias)
    calls = [p.function_call for p in parts if p.function_call]
    assert len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].args == {"city": "Paris"}

    history = [
        types.Content(role="user", parts=[types.Part.from_text(text=WEATHER_QUESTION)]),
        types.Content(role="model", parts=parts),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(
                    name="get_weather", response={"output": TOOL_RESULT}
                )
            ],
        ),
    ]
    second = gem.models.generate_content(
        model=think_alias, contents=history, config=gemini_tools()
    )
    assert TOOL_RESULT in second.text
