"""AnthropicProvider against the real FakeLLM on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from tests.support.fakellm import FakeLLM
from wakeful.errors import APIError, ProviderAuthError
from wakeful.providers.anthropic import AnthropicProvider
from wakeful.providers.base import (
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
    Usage,
)
from wakeful.providers.openai import OpenAIProvider
from wakeful.providers.registry import ProviderPool, build_provider


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as server:
        yield server


@pytest.fixture
async def provider(fake: FakeLLM) -> AsyncIterator[AnthropicProvider]:
    # opencode's baseURL for Anthropic ends in /v1, like the fake's URL
    p = AnthropicProvider(
        "anthropic",
        Endpoint(
            base_url=fake.url, api_key="sk-ant", silence_timeout=0.3, max_connections=100, transport="aiohttp"
        ),
    )
    yield p
    await p.aclose()


def ask(prompt: str, *history: ChatMessage) -> ChatRequest:
    messages = [ChatMessage(role="user", text=prompt), *history]
    return ChatRequest(model="claude-mock", system=["be brief"], messages=messages)


async def collect(provider: AnthropicProvider, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in provider.stream(request)]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_text_and_thinking_stream(provider: AnthropicProvider) -> None:
    events = await collect(provider, ask("REASON pondering\nREPLY hello there"))
    assert isinstance(events[0], ReasoningDelta)
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "pondering"
    assert text_of(events) == "hello there"
    assert events[-1] == Finish("stop")


async def test_request_shape(provider: AnthropicProvider, fake: FakeLLM) -> None:
    request = ask("hi")
    request.tools = [ToolDefinition("bash", "Run a command", {"type": "object"})]
    await collect(provider, request)
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/messages"
    assert recorded.body["max_tokens"] == 8192
    assert recorded.body["system"] == [{"type": "text", "text": "be brief"}]
    assert recorded.body["tools"] == [
        {"name": "bash", "description": "Run a command", "input_schema": {"type": "object"}}
    ]


async def test_tool_calls_single_and_parallel(provider: AnthropicProvider) -> None:
    single = await collect(provider, ask('TOOL read {"path": "a"}'))
    calls = [e.call for e in single if isinstance(e, ToolCallEvent)]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("read", {"path": "a"})]
    assert single[-1] == Finish("tool-calls")
    both = await collect(provider, ask('TOOL read {"path": "a"}\nTOOL grep {"q": "x"}\nTOOLS_PARALLEL'))
    assert [e.call.name for e in both if isinstance(e, ToolCallEvent)] == ["read", "grep"]


async def test_tool_results_go_back_as_one_user_turn(provider: AnthropicProvider, fake: FakeLLM) -> None:
    prompt = 'TOOL read {"path": "a"}\nTOOL grep {"q": "x"}\nTOOLS_PARALLEL'
    calls = [ToolCall("call_a", "read", '{"path": "a"}'), ToolCall("call_b", "grep", '{"q": "x"}')]
    request = ask(
        prompt,
        ChatMessage(role="assistant", text="checking", tool_calls=calls),
        ChatMessage(role="tool", tool_call_id="call_a", text="A body"),
        ChatMessage(role="tool", tool_call_id="call_b", text="no match", is_error=True),
    )
    events = await collect(provider, request)
    assert text_of(events) == "TOOL_RESULT_SEEN: no match"
    messages = fake.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][1] == {
        "type": "tool_use",
        "id": "call_a",
        "name": "read",
        "input": {"path": "a"},
    }
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_a", "content": "A body", "is_error": False},
        {"type": "tool_result", "tool_use_id": "call_b", "content": "no match", "is_error": True},
    ]


async def test_usage_and_length_finish(provider: AnthropicProvider) -> None:
    events = await collect(provider, ask("USAGE 100 20 30\nFINISH max_tokens"))
    assert Usage(input=100, output=20, cache_read=30) in events
    assert events[-1] == Finish("length")


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (529, True), (429, True), (400, False)])
async def test_status_errors(
    provider: AnthropicProvider, fake: FakeLLM, status: int, retryable: bool
) -> None:
    with pytest.raises(APIError) as info:
        await collect(provider, ask(f"ERROR {status}\nRETRY_AFTER 2"))
    err = info.value
    assert err.status_code == status and err.retryable is retryable
    assert err.message == f"mock error {status}"
    assert json.loads(err.response_body or "")["type"] == "error"
    assert err.metadata == {"url": f"{fake.url}/messages"}
    assert err.retry_after == 2.0


async def test_401_is_provider_auth_error(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderAuthError):
        await collect(provider, ask("ERROR 401"))


async def test_cut_and_truncated_streams_are_retryable(provider: AnthropicProvider) -> None:
    for script in ("BREAK 3", "TRUNCATE 4"):
        with pytest.raises(APIError) as info:
            await collect(provider, ask(script))
        assert info.value.retryable and info.value.message == "Connection reset by server"


async def test_silence_fails_fast(provider: AnthropicProvider) -> None:
    start = time.monotonic()
    with pytest.raises(APIError) as info:
        await collect(provider, ask("SILENT"))
    # The silence limit (0.3 s) firing is the point: failing fast, not at some transport timeout.
    assert time.monotonic() - start < 1.0
    assert info.value.retryable and info.value.message == "provider sent nothing for 0.3 s"


async def test_httpx_transport_works_too(fake: FakeLLM) -> None:
    p = AnthropicProvider(
        "anthropic",
        Endpoint(base_url=fake.url, api_key="k", silence_timeout=0.3, max_connections=100, transport="httpx"),
    )
    try:
        assert text_of(await collect(p, ask("REPLY via httpx"))) == "via httpx"
        with pytest.raises(APIError, match="provider sent nothing"):
            await collect(p, ask("SILENT"))
    finally:
        await p.aclose()


async def test_no_key_sends_no_credentials(fake: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-leaked")
    p = AnthropicProvider(
        "anthropic",
        Endpoint(
            base_url=fake.url, api_key=None, silence_timeout=5, max_connections=100, transport="aiohttp"
        ),
    )
    try:
        await collect(p, ask("hi"))
    finally:
        await p.aclose()
    headers = {k.lower(): v for k, v in fake.requests[-1].headers.items()}
    assert "sk-leaked" not in json.dumps(headers)
    assert "authorization" not in headers and "x-api-key" not in headers


# Each SDK client loads the CA bundle into an SSL context synchronously; three in a row can hold
# the loop for more than the guard's limit on a busy machine.
@pytest.mark.loop_may_stall("builds three SDK clients in a row, each loading its SSL context")
async def test_registry_picks_the_adapter_and_pool_reuses(fake: FakeLLM) -> None:
    a = build_provider(
        "anthropic",
        {"baseURL": fake.url},
        npm=None,
        silence_timeout=1.0,
        max_connections=10,
        transport="aiohttp",
    )
    b = build_provider(
        "corp",
        {"baseURL": fake.url},
        npm="@ai-sdk/anthropic",
        silence_timeout=1.0,
        max_connections=10,
        transport="aiohttp",
    )
    c = build_provider(
        "groq",
        {"baseURL": fake.url, "apiKey": "k"},
        npm="@ai-sdk/openai-compatible",
        silence_timeout=1.0,
        max_connections=10,
        transport="httpx",
    )
    assert isinstance(a, AnthropicProvider) and isinstance(b, AnthropicProvider)
    assert isinstance(c, OpenAIProvider)
    for p in (a, b, c):
        await p.aclose()
    pool = ProviderPool(silence_timeout=1.0, max_connections=10, transport="aiohttp")
    first = pool.get("groq", {"baseURL": fake.url})
    assert pool.get("groq", {"baseURL": fake.url}) is first
    assert pool.get("groq", {"baseURL": fake.url, "apiKey": "new"}) is not first
    assert text_of([e async for e in first.stream(ask("REPLY pooled"))]) == "pooled"
    await pool.aclose()
