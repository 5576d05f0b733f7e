"""Structured output with each official SDK's typed helpers, through every upstream kind: the
SDK sends its dialect's schema form (Chat `response_format`, Responses `text.format`,
Anthropic `output_config.format`, Gemini `responseSchema` with upper-case types), the router
carries it to the upstream in that upstream's form, the mock answers JSON fitting it (it
answers 400 to a schema in the wrong form), and the SDK parses the typed result."""

from __future__ import annotations

import anthropic
import openai
import pydantic
from google.genai import types

from test_genai import make_client

PROMPT = "Describe Ada Lovelace as JSON."


class Person(pydantic.BaseModel):
    name: str
    age: int
    tags: list[str]
    nickname: str | None


def check(person: Person | None) -> None:
    # The mock fills every field with the smallest value its type allows.
    assert person == Person(name="mock", age=0, tags=["mock"], nickname="mock")


def openai_client(router) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.v1, api_key=router.access_key, max_retries=0, timeout=30)


def anthropic_client(router) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=router.root, api_key=router.access_key, max_retries=0, timeout=30
    )


def test_openai_chat_parse(router, alias):
    r = openai_client(router).chat.completions.parse(
        model=alias, messages=[{"role": "user", "content": PROMPT}], response_format=Person
    )
    check(r.choices[0].message.parsed)


def test_openai_chat_stream_parse(router, alias):
    with openai_client(router).chat.completions.stream(
        model=alias, messages=[{"role": "user", "content": PROMPT}], response_format=Person
    ) as stream:
        final = stream.get_final_completion()
    check(final.choices[0].message.parsed)


def test_openai_responses_parse(router, alias):
    r = openai_client(router).responses.parse(model=alias, input=PROMPT, text_format=Person)
    check(r.output_parsed)


def test_openai_responses_stream_parse(router, alias):
    with openai_client(router).responses.stream(
        model=alias, input=PROMPT, text_format=Person
    ) as stream:
        final = stream.get_final_response()
    check(final.output_parsed)


def test_anthropic_parse(router, alias):
    r = anthropic_client(router).messages.parse(
        model=alias,
        max_tokens=1024,
        messages=[{"role": "user", "content": PROMPT}],
        output_format=Person,
    )
    check(r.parsed_output)


def test_anthropic_stream_parse(router, alias):
    with anthropic_client(router).messages.stream(
        model=alias,
        max_tokens=1024,
        messages=[{"role": "user", "content": PROMPT}],
        output_format=Person,
    ) as stream:
        final = stream.get_final_message()
    check(final.parsed_output)


def genai_config() -> types.GenerateContentConfig:
    return types.GenerateContentConfig(response_mime_type="application/json", response_schema=Person)


def test_genai_response_schema(router, alias):
    client = make_client(router)  # kept: the SDK closes its connections with the client
    r = client.models.generate_content(model=alias, contents=PROMPT, config=genai_config())
    check(r.parsed)


def test_genai_response_schema_stream(router, alias):
    client = make_client(router)
    text = "".join(
        chunk.text or ""
        for chunk in client.models.generate_content_stream(
            model=alias, contents=PROMPT, config=genai_config()
        )
    )
    check(Person.model_validate_json(text))
