"""The OpenAI adapter's body: encoded by the adapter itself, each history message and tool once
however many requests carry it, and the same JSON as the plain conversion of the request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.fakellm import FakeLLM
from wakeful.providers import openai as adapter
from wakeful.providers.base import ChatMessage, ChatRequest, Endpoint, ToolCall, ToolDefinition
from wakeful.providers.openai import OpenAIProvider


def request(*messages: ChatMessage, tools: list[ToolDefinition]) -> ChatRequest:
    return ChatRequest(
        model="mock-model",
        system=["be brief", ""],
        messages=list(messages),
        tools=tools,
        max_tokens=100,
        temperature=0.5,
        options={"reasoningEffort": "low", "user": "ü"},
    )


async def test_the_body_is_the_plain_conversion_of_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = OpenAIProvider("mock", Endpoint(silence_timeout=1, max_connections=1, transport="httpx"))
    tool = ToolDefinition("read", "Read a file", {"type": "object", "properties": {}})
    history = [
        ChatMessage(role="user", text="hi ✓"),
        ChatMessage(role="assistant", tool_calls=[ToolCall("call_1", "read", '{"path": "a"}')]),
        ChatMessage(role="tool", tool_call_id="call_1", text="file body"),
        ChatMessage(role="assistant", text=""),
    ]
    body = json.loads(b"".join(adapter._pieces(await provider._body(request(*history, tools=[tool])))))
    assert body == {
        "model": "mock-model",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi ✓"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "read", "arguments": '{"path": "a"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "file body"},
            {"role": "assistant", "content": ""},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "read",
                    "description": "Read a file",
                    "parameters": {"type": "object", "properties": {}},
                },
            }
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 100,
        "temperature": 0.5,
        "reasoning_effort": "low",
        "user": "ü",
    }

    converted: list[ChatMessage] = []
    plain = adapter._message

    async def counted(m: ChatMessage) -> dict[str, Any]:
        converted.append(m)
        return await plain(m)

    monkeypatch.setattr(adapter, "_message", counted)
    later = ChatMessage(role="user", text="and then?")
    again = json.loads(b"".join(adapter._pieces(await provider._body(request(*history, later, tools=[tool])))))
    assert converted == [later]  # the history was converted for the first request only
    assert again["messages"] == [*body["messages"], {"role": "user", "content": "and then?"}]
    assert again["tools"] == body["tools"]
    await provider.aclose()


async def test_chunks_are_read_as_plain_json() -> None:
    async with FakeLLM() as fake:
        provider = OpenAIProvider(
            "mock",
            Endpoint(base_url=fake.url, api_key="k", silence_timeout=5, max_connections=1, transport="httpx"),
        )
        chunks = await provider._open(
            request(ChatMessage(role="user", text="REPLY ok"), tools=[]),
            {"model": "m", "messages": [], "stream": True},
        )
        first = await chunks.__anext__()
        assert type(first) is dict and "choices" in first
        await chunks.close()
        await provider.aclose()


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
@pytest.mark.parametrize("tools", [0, 2])
async def test_the_body_goes_whole_with_its_length(transport: Any, tools: int) -> None:
    """Sent from pieces the messages and tools keep (the joined body lives only while it is sent),
    and still one body of a declared length, never chunked."""
    async with FakeLLM() as fake:
        provider = OpenAIProvider(
            "mock",
            Endpoint(base_url=fake.url, api_key="k", silence_timeout=5, max_connections=1, transport=transport),
        )
        defined = [ToolDefinition(f"t{k}", "a tool", {"type": "object"}) for k in range(tools)]
        sent = request(ChatMessage(role="user", text="REPLY ok ✓"), ChatMessage(role="user", text="x"), tools=defined)
        events = [event async for event in provider.stream(sent)]
        assert events
        (arrived,) = fake.requests
        expected = json.loads(b"".join(adapter._pieces(await provider._body(sent))))
        assert arrived.body == expected
        assert len(arrived.body["tools"] if tools else []) == tools
        assert "transfer-encoding" not in {k.lower() for k in arrived.headers}
        length = {k.lower(): v for k, v in arrived.headers.items()}["content-length"]
        assert int(length) == len(json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode())
        await provider.aclose()
