"""A longer conversation: two tool rounds in one history, non-streaming and streaming. Tool
call ids must be unique across the conversation (Anthropic rejects a history with two
`tool_use` blocks of the same id; clients match results to calls by id), and the history with
both rounds must translate for every upstream."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

RESULTS = ["Sunny, 21 C", "Rain, 9 C"]
QUESTIONS = ["What is the weather in Paris?", "And what is the weather there tomorrow?"]


@pytest.fixture
def oai(router) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.v1, api_key=router.access_key, max_retries=0, timeout=30)


@pytest.fixture
def ant(router) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=router.root, api_key=router.access_key, max_retries=0, timeout=30
    )


CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_chat_two_rounds(oai, alias, stream):
    messages: list[dict] = []
    ids = []
    for question, result in zip(QUESTIONS, RESULTS):
        messages.append({"role": "user", "content": question})
        if stream:
            call = {"id": "", "name": "", "arguments": ""}
            for chunk in oai.chat.completions.create(
                model=alias, messages=messages, tools=CHAT_TOOLS, stream=True
            ):
                for c in chunk.choices:
                    for tc in c.delta.tool_calls or []:
                        call["id"] += tc.id or ""
                        call["name"] += (tc.function and tc.function.name) or ""
                        call["arguments"] += (tc.function and tc.function.arguments) or ""
        else:
            tc = (
                oai.chat.completions.create(model=alias, messages=messages, tools=CHAT_TOOLS)
                .choices[0]
                .message.tool_calls[0]
            )
            call = {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
        assert call["name"] == "get_weather"
        assert json.loads(call["arguments"]) == {"city": "Paris"}
        ids.append(call["id"])
        messages.append(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        answer = oai.chat.completions.create(model=alias, messages=messages, tools=CHAT_TOOLS)
        text = answer.choices[0].message.content
        assert result in text
        messages.append({"role": "assistant", "content": text})
    assert len(set(ids)) == 2, f"tool call ids repeat: {ids}"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_responses_two_rounds(oai, alias, stream):
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": False,
        }
    ]
    history: list = []
    ids = []
    for question, result in zip(QUESTIONS, RESULTS):
        history.append({"role": "user", "content": question})
        if stream:
            with oai.responses.stream(model=alias, input=history, tools=tools) as s:
                resp = s.get_final_response()
        else:
            resp = oai.responses.create(model=alias, input=history, tools=tools)
        (call,) = [i for i in resp.output if i.type == "function_call"]
        ids.append(call.call_id)
        history += [i.model_dump(exclude_none=True) for i in resp.output]
        history.append({"type": "function_call_output", "call_id": call.call_id, "output": result})
        answer = oai.responses.create(model=alias, input=history, tools=tools)
        assert result in answer.output_text
        history += [i.model_dump(exclude_none=True) for i in answer.output]
    assert len(set(ids)) == 2, f"tool call ids repeat: {ids}"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_anthropic_two_rounds(ant, alias, stream):
    tools = [
        {
            "name": "get_weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    messages: list[dict] = []
    ids = []
    for question, result in zip(QUESTIONS, RESULTS):
        messages.append({"role": "user", "content": question})
        kwargs = dict(model=alias, max_tokens=1024, tools=tools, messages=messages)
        if stream:
            with ant.messages.stream(**kwargs) as s:
                msg = s.get_final_message()
        else:
            msg = ant.messages.create(**kwargs)
        (use,) = [b for b in msg.content if b.type == "tool_use"]
        ids.append(use.id)
        messages.append(
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]}
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": result}],
            }
        )
        answer = ant.messages.create(model=alias, max_tokens=1024, tools=tools, messages=messages)
        assert result in answer.content[0].text
        messages.append({"role": "assistant", "content": answer.content[0].text})
    assert len(set(ids)) == 2, f"tool_use ids repeat: {ids}"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_genai_two_rounds(router, alias, stream):
    client = genai.Client(
        api_key=router.access_key, http_options=types.HttpOptions(base_url=router.root)
    )
    config = types.GenerateContentConfig(
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
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    history: list[types.Content] = []
    for question, result in zip(QUESTIONS, RESULTS):
        history.append(types.Content(role="user", parts=[types.Part.from_text(text=question)]))
        if stream:
            parts = []
            for chunk in client.models.generate_content_stream(
                model=alias, contents=history, config=config
            ):
                if chunk.candidates and chunk.candidates[0].content:
                    parts += chunk.candidates[0].content.parts or []
            content = types.Content(role="model", parts=parts)
        else:
            content = client.models.generate_content(
                model=alias, contents=history, config=config
            ).candidates[0].content
        (call,) = [p.function_call for p in content.parts if p.function_call]
        assert call.name == "get_weather"
        history.append(content)
        history.append(
            types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=call.id, name=call.name, response={"output": result}
                        )
                    )
                ],
            )
        )
        answer = client.models.generate_content(model=alias, contents=history, config=config)
        assert result in answer.text
        history.append(answer.candidates[0].content)
