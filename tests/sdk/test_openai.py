"""The official `openai` SDK against the router: Chat Completions and Responses, each through
every upstream kind, as text, as a stream and as a full tool round."""

from __future__ import annotations

import json

import openai
import pytest

from conftest import ALIASES, hello

TOOL_RESULT = "Sunny, 21 C, light breeze"
WEATHER_QUESTION = "What is the weather in Paris?"

CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]

RESPONSES_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": False,
    }
]


@pytest.fixture
def client(router) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.v1, api_key=router.access_key, max_retries=0, timeout=30)


def test_models_list(client):
    ids = {m.id for m in client.models.list()}
    assert set(ALIASES) <= ids


# ---- Chat Completions ------------------------------------------------------------------


def test_chat_text(client, alias):
    resp = client.chat.completions.create(
        model=alias, messages=[{"role": "user", "content": "Say hello."}]
    )
    assert resp.model == alias
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == hello(alias)
    assert choice.finish_reason == "stop"
    assert resp.usage is not None and resp.usage.completion_tokens > 0


def test_chat_stream(client, alias):
    stream = client.chat.completions.create(
        model=alias,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello."},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, chunks = [], None, None, 0
    for chunk in stream:
        chunks += 1
        assert chunk.model == alias
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                text.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    assert "".join(text) == hello(alias)
    assert chunks > 2, "expected the answer in several chunks"
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


def _chat_tool_history(call) -> list[dict]:
    return [
        {"role": "user", "content": WEATHER_QUESTION},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
    ]


def test_chat_tool_round(client, alias):
    first = client.chat.completions.create(
        model=alias,
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
        tools=CHAT_TOOLS,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1
    assert calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert calls[0].id

    second = client.chat.completions.create(
        model=alias, messages=_chat_tool_history(calls[0]), tools=CHAT_TOOLS
    )
    assert second.choices[0].finish_reason == "stop"
    assert TOOL_RESULT in second.choices[0].message.content


def test_chat_tool_round_stream(client, alias):
    stream = client.chat.completions.create(
        model=alias,
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
        tools=CHAT_TOOLS,
        stream=True,
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
            if c.finish_reason:
                finish = c.finish_reason
    assert finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["id"] and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"}

    history = [
        {"role": "user", "content": WEATHER_QUESTION},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": TOOL_RESULT},
    ]
    text = []
    for chunk in client.chat.completions.create(
        model=alias, messages=history, tools=CHAT_TOOLS, stream=True
    ):
        for c in chunk.choices:
            if c.delta.content:
                text.append(c.delta.content)
    assert TOOL_RESULT in "".join(text)


# ---- Responses -------------------------------------------------------------------------


def test_responses_text(client, alias):
    resp = client.responses.create(model=alias, input="Say hello.", instructions="Be terse.")
    assert resp.model == alias
    assert resp.status == "completed"
    assert resp.output_text == hello(alias)
    assert resp.output[-1].type == "message"
    assert resp.usage is not None and resp.usage.output_tokens > 0


def test_responses_stream(client, alias):
    deltas, types = [], []
    with client.responses.stream(model=alias, input="Say hello.") as stream:
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == hello(alias)
    assert final.output_text == hello(alias)
    assert final.status == "completed"
    assert final.model == alias
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert "response.output_item.done" in types
    assert final.usage is not None and final.usage.output_tokens > 0


def _function_call(resp):
    calls = [item for item in resp.output if item.type == "function_call"]
    assert len(calls) == 1, [item.type for item in resp.output]
    return calls[0]


def _responses_tool_history(call) -> list:
    return [
        {"role": "user", "content": WEATHER_QUESTION},
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT},
    ]


def test_responses_tool_round(client, alias):
    first = client.responses.create(model=alias, input=WEATHER_QUESTION, tools=RESPONSES_TOOLS)
    call = _function_call(first)
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id

    second = client.responses.create(
        model=alias, input=_responses_tool_history(call), tools=RESPONSES_TOOLS
    )
    assert TOOL_RESULT in second.output_text


def test_responses_tool_round_stream(client, alias):
    arg_deltas = []
    with client.responses.stream(
        model=alias, input=WEATHER_QUESTION, tools=RESPONSES_TOOLS
    ) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                arg_deltas.append(event.delta)
        first = stream.get_final_response()
    call = _function_call(first)
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert json.loads("".join(arg_deltas)) == {"city": "Paris"}

    with client.responses.stream(
        model=alias, input=_responses_tool_history(call), tools=RESPONSES_TOOLS
    ) as stream:
        second = stream.get_final_response()
    assert TOOL_RESULT in second.output_text


def test_unknown_model_is_a_typed_error(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert 400 <= info.value.status_code < 500


def test_wrong_key_is_401(router):
    bad = openai.OpenAI(base_url=router.v1, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="via-chat", messages=[{"role": "user", "content": "hi"}])

