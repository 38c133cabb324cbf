"""What the adapters do for the context window and the call's options, against the FakeLLM: each
maps its provider's context-overflow answer to ContextOverflowError (and the one error mapping knows
the wordings of OpenAI-compatible servers), and options, variants, top_p and max_tokens reach the
wire as the AI SDK packages put them there."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.fakellm import FakeLLM
from wakeful.errors import APIError, ContextOverflowError
from wakeful.providers.anthropic import AnthropicProvider
from wakeful.providers.base import ChatMessage, ChatRequest, Endpoint, ToolDefinition
from wakeful.providers.http import SDKProvider, error_for_status, stream_error
from wakeful.providers.openai import OpenAIProvider

TOOL = ToolDefinition("StructuredOutput", "answer", {"type": "object", "properties": {}})


@pytest.fixture(scope="module", autouse=True)
def warmed() -> None:
    """One call through each SDK before the tests, outside the loop-stall guard: an SDK's first call
    in a process builds its response models, 0.3 s of CPU on a loaded machine."""

    async def first_calls() -> None:
        async with FakeLLM() as server:
            for adapter in (OpenAIProvider("mock", endpoint(server)), AnthropicProvider("anth", endpoint(server))):
                await drain(adapter, ask("REPLY warm"))
                await adapter.aclose()

    asyncio.run(first_calls())


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as server:
        yield server


def endpoint(fake: FakeLLM) -> Endpoint:
    return Endpoint(
        base_url=fake.url, api_key="sk-test", silence_timeout=5, max_connections=10, transport="httpx"
    )


@pytest.fixture
async def openai(fake: FakeLLM) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider("mock", endpoint(fake))
    yield provider
    await provider.aclose()


@pytest.fixture
async def anthropic(fake: FakeLLM) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider("anth", endpoint(fake))
    yield provider
    await provider.aclose()


def ask(text: str, model: str = "mock-model", **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, system=["be brief"], messages=[ChatMessage("user", text)], **fields)


async def drain(provider: SDKProvider[Any], request: ChatRequest) -> None:
    async for _ in provider.stream(request):
        pass


async def sent(provider: SDKProvider[Any], fake: FakeLLM, request: ChatRequest) -> dict[str, Any]:
    """The body the provider sent for `request`."""
    await drain(provider, request)
    body: dict[str, Any] = fake.requests[-1].body
    return body


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_each_adapter_maps_its_providers_overflow_answer(
    wire: str, openai: OpenAIProvider, anthropic: AnthropicProvider
) -> None:
    provider: SDKProvider[Any] = openai if wire == "openai" else anthropic
    with pytest.raises(ContextOverflowError) as raised:
        await drain(provider, ask("OVERFLOW\nREPLY no"))
    error = raised.value.to_info()
    assert error["name"] == "ContextOverflowError"
    expected = "maximum context length is 4096" if wire == "openai" else "prompt is too long"
    assert expected in error["data"]["message"] and error["data"]["responseBody"]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens"),
        (400, "Input validation error: the prompt is longer than the model's context length (4096)"),
        (400, "the request exceeds the available context size, try increasing it"),
        (400, "request (9000 tokens) exceeds the context window of this model"),
        (400, "Please reduce the length of the messages or completion."),
        (400, "prompt has 9,001 tokens, but the configured context size is 8,192 tokens"),
        (400, "Trying to keep the first 9000 tokens when context the overflows. However, the model is loaded "
         "with context length of only 4096 tokens, which is not enough. Try to load the model with a larger "
         "context length, or provide a shorter input: the number is greater than the context length"),
        (413, "Request Entity Too Large"),
    ],
)
def test_the_wordings_of_openai_compatible_servers_are_overflows(status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}})
    error = error_for_status("local", status, body, [], "http://local/v1")
    assert isinstance(error, ContextOverflowError), message


def test_other_answers_are_not_overflows() -> None:
    body = json.dumps({"error": {"message": "max_tokens: 100000 > 64000, the maximum allowed", "type": "x"}})
    assert type(error_for_status("p", 400, body, [], "u")) is APIError
    assert type(error_for_status("p", 500, '{"error": {"message": "prompt is too long"}}', [], "u")) is APIError
    coded = {"error": {"message": "too long", "code": "context_length_exceeded"}}
    assert isinstance(stream_error(coded, "fallback"), ContextOverflowError)


async def test_openai_options_top_p_and_max_tokens_on_the_wire(openai: OpenAIProvider, fake: FakeLLM) -> None:
    options = {"reasoningEffort": "high", "textVerbosity": "low", "reasoningSummary": "auto", "seed": 7}
    body = await sent(
        openai, fake, ask("REPLY ok", options=options, top_p=0.9, temperature=0.2, max_tokens=1234)
    )
    assert body["reasoning_effort"] == "high" and body["verbosity"] == "low" and body["seed"] == 7
    assert "reasoningSummary" not in body and "reasoningEffort" not in body
    assert body["top_p"] == 0.9 and body["temperature"] == 0.2 and body["max_tokens"] == 1234
    body = await sent(openai, fake, ask("REPLY ok", tools=[TOOL], tool_choice="required"))
    assert body["tool_choice"] == "required"


async def test_openai_reasoning_models_take_max_completion_tokens(openai: OpenAIProvider, fake: FakeLLM) -> None:
    body = await sent(openai, fake, ask("REPLY ok", model="o3-mini", max_tokens=500, temperature=0.5, top_p=0.5))
    assert body["max_completion_tokens"] == 500
    assert "max_tokens" not in body and "temperature" not in body and "top_p" not in body


async def test_anthropic_thinking_budget_and_tool_choice(anthropic: AnthropicProvider, fake: FakeLLM) -> None:
    thinking = {"thinking": {"type": "enabled", "budgetTokens": 16_000}, "somethingElse": 1}
    body = await sent(
        anthropic, fake, ask("REPLY ok", options=thinking, max_tokens=4000, temperature=0.3, top_p=0.9)
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 16_000}
    assert body["max_tokens"] == 20_000  # the budget comes on top of the answer
    assert "temperature" not in body and "top_p" not in body and "somethingElse" not in body
    body = await sent(anthropic, fake, ask("REPLY ok", tools=[TOOL], tool_choice="required", top_p=0.9))
    assert body["tool_choice"] == {"type": "any"} and body["top_p"] == 0.9
