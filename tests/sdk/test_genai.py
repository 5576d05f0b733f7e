"""The official `google-genai` SDK against the router: generate_content and
generate_content_stream (the SDK's default `/v1/models/...` paths, and `/v1beta`), through every
upstream kind, as text, as a stream and as a full tool round."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import types

from conftest import ALIASES, hello

TOOL_RESULT = "Sunny, 21 C, light breeze"
WEATHER_QUESTION = "What is the weather in Paris?"

WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather for a city.",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def make_client(router, api_version: str | None = None) -> genai.Client:
    opts = types.HttpOptions(base_url=router.root, timeout=30_000)
    if api_version:
        opts.api_version = api_version
    return genai.Client(api_key=router.access_key, http_options=opts)


@pytest.fixture
def client(router) -> genai.Client:
    return make_client(router)


def tool_config() -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def test_default_path_is_v1(router):
    # CLIENTS.md: this SDK version calls /v1/models/..., not only /v1beta.
    assert make_client(router)._api_client._http_options.api_version == "v1"


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_text(router, alias, api_version):
    client = make_client(router, api_version)
    resp = client.models.generate_content(
        model=alias,
        contents="Say hello.",
        config=types.GenerateContentConfig(system_instruction="You are terse."),
    )
    assert resp.text == hello(alias)
    cand = resp.candidates[0]
    assert cand.finish_reason == types.FinishReason.STOP
    assert cand.content.role == "model"
    assert resp.usage_metadata is not None
    assert resp.usage_metadata.candidates_token_count > 0


def test_stream(client, alias):
    chunks = list(client.models.generate_content_stream(model=alias, contents="Say hello."))
    assert len(chunks) > 1, "expected the answer in several chunks"
    text = "".join(c.text or "" for c in chunks)
    assert text == hello(alias)
    finishes = [c.candidates[0].finish_reason for c in chunks if c.candidates]
    assert types.FinishReason.STOP in finishes
    assert any(c.usage_metadata and c.usage_metadata.candidates_token_count for c in chunks)


def _tool_history(model_content: types.Content, call: types.FunctionCall) -> list:
    return [
        types.Content(role="user", parts=[types.Part.from_text(text=WEATHER_QUESTION)]),
        model_content,
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name=call.name, response={"result": TOOL_RESULT})
            ],
        ),
    ]


def test_tool_round(client, alias):
    first = client.models.generate_content(
        model=alias, contents=WEATHER_QUESTION, config=tool_config()
    )
    calls = first.function_calls
    assert calls and len(calls) == 1
    assert calls[0].name == "get_weather"
    assert calls[0].args == {"city": "Paris"}

    second = client.models.generate_content(
        model=alias,
        contents=_tool_history(first.candidates[0].content, calls[0]),
        config=tool_config(),
    )
    assert not second.function_calls
    assert TOOL_RESULT in second.text


def test_tool_round_stream(client, alias):
    parts: list[types.Part] = []
    calls: list[types.FunctionCall] = []
    for chunk in client.models.generate_content_stream(
        model=alias, contents=WEATHER_QUESTION, config=tool_config()
    ):
        calls += chunk.function_calls or []
        if chunk.candidates and chunk.candidates[0].content:
            parts += chunk.candidates[0].content.parts or []
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert calls[0].args == {"city": "Paris"}

    text = "".join(
        c.text or ""
        for c in client.models.generate_content_stream(
            model=alias,
            contents=_tool_history(types.Content(role="model", parts=parts), calls[0]),
            config=tool_config(),
        )
    )
    assert TOOL_RESULT in text


def test_wrong_key_is_rejected(router):
    bad = genai.Client(api_key="sk-wrong", http_options=types.HttpOptions(base_url=router.root))
    with pytest.raises(genai.errors.ClientError) as info:
        bad.models.generate_content(model="via-gemini", contents="hi")
    assert info.value.code in (401, 403)


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_count_tokens(router, alias, api_version):
    # Answered by the router's local estimate, whatever the upstream.
    client = make_client(router, api_version)
    short = client.models.count_tokens(model=alias, contents="Say hello.")
    longer = client.models.count_tokens(
        model=alias, contents="Say hello. " + "Then describe the weather in Paris today. " * 20
    )
    assert short.total_tokens and short.total_tokens > 0
    assert longer.total_tokens > short.total_tokens


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_models_list_and_get(router, api_version):
    client = make_client(router, api_version)
    models = list(client.models.list())
    names = [m.name for m in models]
    for alias in ALIASES:
        assert f"models/{alias}" in names
    one = next(m for m in models if m.name == "models/via-gemini")
    assert "generateContent" in one.supported_actions
    assert "countTokens" in one.supported_actions
    got = client.models.get(model="via-gemini")
    assert got.name == "models/via-gemini"
    assert got.display_name == "via-gemini"
    with pytest.raises(genai.errors.ClientError) as info:
        client.models.get(model="no-such-model")
    assert info.value.code == 404
