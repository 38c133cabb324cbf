"""OpenAIProvider against the real FakeLLM on loopback, over both transports."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.fakellm import FakeLLM
from wakeful.errors import APIError, ProviderAuthError, ProviderUnreachableError
from wakeful.providers.base import (
    Attachment,
    ChatMessage,
    ChatRequest,
    Endpoint,
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolDefinition,
    Transport,
    Usage,
)
from wakeful.providers.openai import OpenAIProvider


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as server:
        yield server


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> Transport:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def provider(transport: Transport, fake: FakeLLM) -> AsyncIterator[OpenAIProvider]:
    p = OpenAIProvider(
        "mock",
        Endpoint(
            base_url=fake.url,
            api_key="sk-test",
            silence_timeout=0.3,
            max_connections=100,
            transport=transport,
        ),
    )
    yield p
    await p.aclose()


def ask(prompt: str, *history: ChatMessage) -> ChatRequest:
    messages = [ChatMessage(role="user", text=prompt), *history]
    return ChatRequest(model="mock-model", system=["be brief"], messages=messages)


async def collect(provider: OpenAIProvider, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in provider.stream(request)]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_text_streams_in_deltas_then_usage_and_finish(provider: OpenAIProvider) -> None:
    events = await collect(provider, ask("REPLY hello streaming world"))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert text_of(events) == "hello streaming world"
    assert isinstance(events[-2], Usage) and events[-2].output == len(deltas)
    assert events[-1] == Finish("stop")


async def test_reasoning_comes_before_text(provider: OpenAIProvider) -> None:
    events = await collect(provider, ask("REASON let me think\nREPLY done"))
    kinds = [type(e) for e in events if isinstance(e, ReasoningDelta | TextDelta)]
    assert kinds[0] is ReasoningDelta and kinds[-1] is TextDelta
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "let me think"


async def test_single_tool_call_is_assembled(provider: OpenAIProvider) -> None:
    events = await collect(provider, ask('TOOL read {"path": "a.txt", "limit": 10}'))
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert len(calls) == 1
    assert calls[0].name == "read" and calls[0].id.startswith("call_")
    assert json.loads(calls[0].arguments) == {"path": "a.txt", "limit": 10}
    assert events[-1] == Finish("tool-calls")


async def test_parallel_tool_calls_keep_their_order(provider: OpenAIProvider) -> None:
    events = await collect(
        provider, ask('TOOL read {"path": "a"}\nTOOL glob {"pattern": "*"}\nTOOLS_PARALLEL')
    )
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [c.name for c in calls] == ["read", "glob"]
    assert len({c.id for c in calls}) == 2


async def test_tool_round_trip_maps_the_conversation(provider: OpenAIProvider, fake: FakeLLM) -> None:
    prompt = 'TOOL read {"path": "a"}'
    call = ToolCall(id="call_1", name="read", arguments='{"path": "a"}')
    request = ask(
        prompt,
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id="call_1", text="file body"),
    )
    request.tools = [ToolDefinition("read", "Read a file", {"type": "object", "properties": {}})]
    events = await collect(provider, request)
    assert text_of(events) == "TOOL_RESULT_SEEN: file body"
    body = fake.requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert body["messages"][2]["tool_calls"][0]["function"] == {"name": "read", "arguments": '{"path": "a"}'}
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "file body"}
    assert body["tools"][0]["function"]["name"] == "read"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_usage_separates_cached_and_reasoning_tokens(provider: OpenAIProvider) -> None:
    events = await collect(provider, ask("USAGE 100 20 30 5"))
    assert Usage(input=100, output=20, reasoning=5, cache_read=30) in events


@pytest.mark.parametrize(
    ("raw", "mapped"),
    [
        ("length", "length"),
        ("content_filter", "content-filter"),
        ("tool_calls", "tool-calls"),
        ("weird", "other"),
    ],
)
async def test_finish_reasons_are_mapped(fake: FakeLLM, raw: str, mapped: str) -> None:
    p = OpenAIProvider(
        "mock",
        Endpoint(base_url=fake.url, api_key="k", silence_timeout=1, max_connections=100, transport="aiohttp"),
    )
    try:
        assert (await collect(p, ask(f"FINISH {raw}")))[-1] == Finish(mapped)
    finally:
        await p.aclose()


async def test_500_is_a_retryable_api_error_with_the_answer(provider: OpenAIProvider, fake: FakeLLM) -> None:
    with pytest.raises(APIError) as info:
        await collect(provider, ask("ERROR 500"))
    err = info.value
    assert err.retryable and err.status_code == 500 and err.message == "mock error 500"
    assert json.loads(err.response_body or "") == {
        "error": {"message": "mock error 500", "type": "server_error", "code": 500}
    }
    assert err.response_headers is not None and err.response_headers["content-type"].startswith(
        "application/json"
    )
    assert err.metadata == {"url": f"{fake.url}/chat/completions"}
    assert err.to_info()["data"]["isRetryable"] is True


async def test_400_is_not_retryable(provider: OpenAIProvider) -> None:
    with pytest.raises(APIError) as info:
        await collect(provider, ask("ERROR 400"))
    assert info.value.status_code == 400 and not info.value.retryable


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failures_are_provider_auth_errors(provider: OpenAIProvider, status: int) -> None:
    with pytest.raises(ProviderAuthError) as info:
        await collect(provider, ask(f"ERROR {status}"))
    assert info.value.provider_id == "mock" and info.value.message == f"mock error {status}"


async def test_429_carries_retry_after(provider: OpenAIProvider) -> None:
    with pytest.raises(APIError) as info:
        await collect(provider, ask("ERROR 429\nRETRY_AFTER 7"))
    assert info.value.retryable and info.value.retry_after == 7.0


async def test_cut_stream_is_a_retryable_reset(provider: OpenAIProvider) -> None:
    seen: list[StreamEvent] = []
    with pytest.raises(APIError) as info:
        async for event in provider.stream(ask("REPLY abcdefghi\nBREAK 2")):
            seen.append(event)
    assert seen and isinstance(seen[0], TextDelta)  # what came before the cut was delivered
    assert info.value.retryable and info.value.message == "Connection reset by server"


async def test_stream_without_finish_is_a_retryable_reset(provider: OpenAIProvider) -> None:
    with pytest.raises(APIError) as info:
        await collect(provider, ask("TRUNCATE 3"))
    assert info.value.retryable and info.value.message == "Connection reset by server"


async def test_silence_fails_fast_and_retryable(provider: OpenAIProvider) -> None:
    start = time.monotonic()
    with pytest.raises(APIError) as info:
        await collect(provider, ask("SILENT"))
    # The silence limit (0.3 s) firing is the point: failing fast, not at some transport timeout.
    assert time.monotonic() - start < 1.0
    assert info.value.retryable and info.value.message == "provider sent nothing for 0.3 s"


async def test_silence_before_headers_counts_too(provider: OpenAIProvider) -> None:
    with pytest.raises(APIError, match="provider sent nothing"):
        await collect(provider, ask("HOLD_BEFORE never"))


async def test_steady_bytes_keep_a_slow_stream_alive(provider: OpenAIProvider) -> None:
    # 4 chunks 0.15 s apart: 0.45 s in all, longer than the 0.3 s silence timeout
    events = await collect(provider, ask("REPLY abcd\nDRIP 4 0.15"))
    assert text_of(events) == "abcd"


async def test_hold_parks_after_the_first_chunk(provider: OpenAIProvider, fake: FakeLLM) -> None:
    slow = OpenAIProvider(
        "mock",
        Endpoint(base_url=fake.url, api_key="k", silence_timeout=5, max_connections=100, transport="aiohttp"),
    )
    stream = slow.stream(ask("REPLY one two three\nHOLD k1"))
    try:
        first = await anext(stream)
        await fake.wait_for_hold("k1", timeout=2)
        fake.release("k1")
        rest = [event async for event in stream]
        assert isinstance(first, TextDelta)
        assert first.text + text_of(rest) == "one two three"
    finally:
        await stream.aclose()
        await slow.aclose()


async def test_closing_a_stream_frees_its_connection(fake: FakeLLM, transport: Transport) -> None:
    p = OpenAIProvider(
        "mock",
        Endpoint(base_url=fake.url, api_key="k", silence_timeout=5, max_connections=1, transport=transport),
    )
    try:
        held = p.stream(ask("REPLY never finished\nHOLD forever"))
        assert isinstance(await anext(held), TextDelta)
        await held.aclose()  # what the run loop does on abort
        async with asyncio.timeout(2):  # the only connection slot must be free again
            assert text_of(await collect(p, ask("REPLY next"))) == "next"
    finally:
        await p.aclose()


async def test_connection_refused_is_retryable() -> None:
    p = OpenAIProvider(
        "mock",
        Endpoint(
            base_url="http://127.0.0.1:9/v1",
            api_key="k",
            silence_timeout=1,
            max_connections=100,
            transport="aiohttp",
        ),
    )
    try:
        with pytest.raises(APIError) as info:
            await collect(p, ask("hi"))
        assert info.value.retryable and info.value.status_code is None
        assert isinstance(info.value, ProviderUnreachableError)  # retried within its short budget
    finally:
        await p.aclose()


async def test_keys_and_headers(fake: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-leaked")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-leaked")
    limits: dict[str, Any] = {"silence_timeout": 5, "max_connections": 100, "transport": "aiohttp"}
    keyless = OpenAIProvider(
        "local", Endpoint(base_url=fake.url, api_key=None, headers={"X-Team": "a"}, **limits)
    )
    keyed = OpenAIProvider("openai", Endpoint(base_url=fake.url, api_key="sk-real", **limits))
    try:
        await collect(keyless, ask("hi"))
        await collect(keyed, ask("hi"))
    finally:
        await keyless.aclose()
        await keyed.aclose()
    first, second = ({k.lower(): v for k, v in r.headers.items()} for r in fake.requests)
    assert "authorization" not in first and "openai-organization" not in first
    assert first["x-team"] == "a"
    assert second["authorization"] == "Bearer sk-real"


async def test_attachments_become_content_parts(provider: OpenAIProvider, fake: FakeLLM) -> None:
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode()
    note = "data:text/plain;base64," + base64.b64encode(b"remember this").decode()
    message = ChatMessage(
        role="user",
        text="look",
        attachments=[
            Attachment(mime="image/png", url=png),
            Attachment(mime="text/plain", url=note, filename="n.txt"),
        ],
    )
    request = ChatRequest(model="m", system=[], messages=[message], max_tokens=50, temperature=0.5)
    await collect(provider, request)
    body = fake.requests[-1].body
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": png}},
        {"type": "text", "text": "n.txt:\nremember this"},
    ]
    assert body["max_tokens"] == 50 and body["temperature"] == 0.5
