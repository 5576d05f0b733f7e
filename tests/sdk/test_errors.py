"""Upstream errors reach each SDK as its own typed exception: a 400 from any upstream kind is the
client's mistake and comes back as 400; a 429 comes back as 429 with Retry-After. Streaming
requests fail the same way (nothing was sent yet)."""

from __future__ import annotations

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from conftest import UPSTREAMS

KINDS = [alias.removeprefix("via-") for alias in UPSTREAMS]
CASES = [(status, kind) for status in (400, 429) for kind in KINDS]
IDS = [f"{status}-from-{kind}" for status, kind in CASES]


def alias_for(status: int, kind: str) -> str:
    return f"err{status}-{kind}"


def check_status(status: int, got: int, headers) -> None:
    assert got == status
    if status == 429:
        # Every 429 says when to come back, the upstream's own relayed one included.
        assert int(headers["retry-after"]) >= 1, dict(headers)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("status", "kind"), CASES, ids=IDS)
def test_openai_chat(router, status, kind, stream):
    client = openai.OpenAI(base_url=router.v1, api_key=router.access_key, max_retries=0)
    expected = openai.BadRequestError if status == 400 else openai.RateLimitError
    with pytest.raises(expected) as info:
        resp = client.chat.completions.create(
            model=alias_for(status, kind),
            messages=[{"role": "user", "content": "hi"}],
            stream=stream,
        )
        if stream:
            list(resp)
    err = info.value
    check_status(status, err.status_code, err.response.headers)
    assert isinstance(err.body, dict) and err.body.get("message"), err.body
    assert err.type, err.body


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("status", "kind"), CASES, ids=IDS)
def test_openai_responses(router, status, kind, stream):
    client = openai.OpenAI(base_url=router.v1, api_key=router.access_key, max_retries=0)
    expected = openai.BadRequestError if status == 400 else openai.RateLimitError
    with pytest.raises(expected) as info:
        if stream:
            with client.responses.stream(model=alias_for(status, kind), input="hi") as s:
                s.get_final_response()
        else:
            client.responses.create(model=alias_for(status, kind), input="hi")
    err = info.value
    check_status(status, err.status_code, err.response.headers)
    assert isinstance(err.body, dict) and err.body.get("message"), err.body


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("status", "kind"), CASES, ids=IDS)
def test_anthropic(router, status, kind, stream):
    client = anthropic.Anthropic(base_url=router.root, api_key=router.access_key, max_retries=0)
    expected = anthropic.BadRequestError if status == 400 else anthropic.RateLimitError
    kwargs = dict(
        model=alias_for(status, kind),
        max_tokens=64,
        messages=[{"role": "user", "content": "hi"}],
    )
    with pytest.raises(expected) as info:
        if stream:
            with client.messages.stream(**kwargs) as s:
                s.get_final_message()
        else:
            client.messages.create(**kwargs)
    err = info.value
    check_status(status, err.status_code, err.response.headers)
    assert err.body["type"] == "error", err.body
    want = "invalid_request_error" if status == 400 else "rate_limit_error"
    assert err.body["error"]["type"] == want, err.body
    assert err.body["error"]["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("status", "kind"), CASES, ids=IDS)
def test_genai(router, status, kind, stream):
    client = genai.Client(
        api_key=router.access_key,
        http_options=types.HttpOptions(
            base_url=router.root, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    with pytest.raises(genai.errors.ClientError) as info:
        if stream:
            list(client.models.generate_content_stream(model=alias_for(status, kind), contents="hi"))
        else:
            client.models.generate_content(model=alias_for(status, kind), contents="hi")
    err = info.value
    assert err.code == status
    want = "INVALID_ARGUMENT" if status == 400 else "RESOURCE_EXHAUSTED"
    assert err.status == want, err.details
    assert err.message
