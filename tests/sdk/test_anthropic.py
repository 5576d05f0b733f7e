"""The official `anthropic` SDK against the router: messages.create, messages.stream and
count_tokens, through every upstream kind, as text, as a stream and as a full tool round."""

from __future__ import annotations

import anthropic
import pytest

from conftest import hello

TOOL_RESULT = "Sunny, 21 C, light breeze"
WEATHER_QUESTION = "What is the weather in Paris?"
MAX_TOKENS = 1024

TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


@pytest.fixture
def client(router) -> anthropic.Anthropic:
    # The SDK wants the server root: it appends /v1/messages itself.
    return anthropic.Anthropic(
        base_url=router.root, api_key=router.access_key, max_retries=0, timeout=30
    )


@pytest.fixture
def bearer_client(router) -> anthropic.Anthropic:
    # `auth_token` is sent as `Authorization: Bearer`, as Claude Code's ANTHROPIC_AUTH_TOKEN.
    return anthropic.Anthropic(
        base_url=router.root, auth_token=router.access_key, max_retries=0, timeout=30
    )


def test_text(client, alias):
    msg = client.messages.create(
        model=alias,
        max_tokens=MAX_TOKENS,
        system="You are terse.",
        messages=[{"role": "user", "content": "Say hello."}],
    )
    assert msg.type == "message"
    assert msg.role == "assistant"
    assert msg.model == alias
    assert msg.stop_reason == "end_turn"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == hello(alias)
    assert msg.usage.output_tokens > 0


def test_text_bearer_auth(bearer_client, alias):
    msg = bearer_client.messages.create(
        model=alias, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": "Say hello."}]
    )
    assert msg.content[0].text == hello(alias)


def test_stream(client, alias):
    with client.messages.stream(
        model=alias,
        max_tokens=MAX_TOKENS,
        system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Say hello."}],
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1, "expected the answer in several deltas"
    assert "".join(pieces) == hello(alias)
    assert final.model == alias
    assert final.stop_reason == "end_turn"
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == hello(alias)
    assert final.usage.output_tokens > 0


def test_stream_events(client, alias):
    with client.messages.stream(
        model=alias, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": "Say hello."}]
    ) as stream:
        types = [event.type for event in stream]
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"
    assert "content_block_start" in types
    assert "content_block_stop" in types
    assert "message_delta" in types


def _tool_use(msg):
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert len(uses) == 1, [b.type for b in msg.content]
    return uses[0]


def _tool_history(msg, use) -> list[dict]:
    return [
        {"role": "user", "content": WEATHER_QUESTION},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": TOOL_RESULT}],
        },
    ]


def test_tool_round(client, alias):
    first = client.messages.create(
        model=alias,
        max_tokens=MAX_TOKENS,
        tools=TOOLS,
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
    )
    assert first.stop_reason == "tool_use"
    use = _tool_use(first)
    assert first.content[0].type == "tool_use"
    assert use.name == "get_weather"
    assert use.input == {"city": "Paris"}
    assert use.id

    second = client.messages.create(
        model=alias, max_tokens=MAX_TOKENS, tools=TOOLS, messages=_tool_history(first, use)
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"
    assert TOOL_RESULT in second.content[0].text


def test_tool_round_stream(client, alias):
    json_deltas = []
    with client.messages.stream(
        model=alias,
        max_tokens=MAX_TOKENS,
        tools=TOOLS,
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                json_deltas.append(event.delta.partial_json)
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    assert json_deltas, "expected input_json_delta events"
    use = _tool_use(first)
    assert use.name == "get_weather"
    assert use.input == {"city": "Paris"}

    with client.messages.stream(
        model=alias, max_tokens=MAX_TOKENS, tools=TOOLS, messages=_tool_history(first, use)
    ) as stream:
        text = stream.get_final_text()
    assert TOOL_RESULT in text


def test_count_tokens(client, alias):
    small = client.messages.count_tokens(
        model=alias, messages=[{"role": "user", "content": "Say hello."}]
    )
    big = client.messages.count_tokens(
        model=alias,
        system="You are a careful assistant. " * 20,
        tools=TOOLS,
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
    )
    assert small.input_tokens > 0
    assert big.input_tokens > small.input_tokens


def test_wrong_key_is_401(router):
    bad = anthropic.Anthropic(base_url=router.root, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(
            model="via-anthropic", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
