"""What both provider adapters share: the HTTP client under the SDKs and the mapping of every failure
to wakeful's errors. Both SDKs sit on the same `httpx2` layer (with an optional aiohttp transport)
and fail the same ways, so one mapping serves both.

A request that did not fit the model's context window becomes a `ContextOverflowError`, whichever
way the provider says it: OpenAI's `context_length_exceeded` code, Anthropic's "prompt is too
long", HTTP 413, or one of the wordings of OpenAI-compatible servers (`_OVERFLOW`).
"""

from __future__ import annotations

import email.utils
import json
import re
import secrets
import time
from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from types import ModuleType
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
import anyio
import httpx2

from wakeful.errors import (
    APIError,
    ContextOverflowError,
    ProviderAuthError,
    ProviderSilenceError,
    ProviderUnreachableError,
    WakefulError,
)
from wakeful.providers.base import ChatRequest, Endpoint, Provider, StreamEvent, Transport
from wakeful.providers.tls import tls_context
from wakeful.telemetry import tracing

RESET_MESSAGE = "Connection reset by server"
# How providers say that the request was larger than the model's context window.
_OVERFLOW = re.compile(
    "|".join(
        [
            r"prompt is too long",  # Anthropic
            r"context[_ ]length[_ ]exceeded",  # OpenAI's error code; Ollama
            r"maximum context length is \d+",  # OpenAI, vLLM, OpenRouter, DeepSeek
            r"exceeds? the (model'?s )?(maximum )?context (window|length)",  # OpenAI, LiteLLM
            r"is longer than the model'?s context length",  # vLLM
            r"reduce the length of the messages",  # Groq
            r"input token count.*exceeds the maximum",  # Gemini
            r"maximum prompt length is \d+",  # xAI
            r"exceeds the available context size",  # llama.cpp
            r"prompt has [\d,]+ tokens?, but the configured context size",  # llama.cpp
            r"greater than the context length",  # LM Studio
            r"context window exceeds limit",  # MiniMax
            r"exceeded model token limit",  # Kimi
            r"too large for model with \d+ maximum context length",
            r"input is too long for requested model",  # Bedrock
            r"request_too_large",  # Anthropic's 413 type
        ]
    ),
    re.IGNORECASE,
)
_RETRYABLE_TYPES = {"server_error", "api_error", "overloaded_error", "rate_limit_error", "timeout_error"}
# Each wire's finish reasons in wakeful's words; here, not in the adapters, so that the scripted
# provider's FINISH understands both without loading an SDK.
ANTHROPIC_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool-calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content-filter",
}
OPENAI_FINISH = {
    "stop": "stop",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "length": "length",
    "content_filter": "content-filter",
}


def http_timeout(silence_timeout: float) -> httpx2.Timeout:
    # `read` is between two reads (and before the headers): exactly "the provider went silent".
    # No pool timeout: waiting for one of our own connection slots is not provider silence.
    return httpx2.Timeout(
        connect=min(silence_timeout, 30.0), read=silence_timeout, write=silence_timeout, pool=None
    )


async def _trace_context(request: httpx2.Request) -> None:
    # Sent while the model call's span is current, so the provider (or a proxy) continues the trace.
    tracing.inject(request.headers)


def http_client(
    aiohttp_cls: type[httpx2.AsyncClient], transport: Transport, silence_timeout: float, max_connections: int
) -> httpx2.AsyncClient:
    """The SDK's HTTP client; `aiohttp_cls` is that SDK's DefaultAioHttpClient."""
    limits = httpx2.Limits(
        max_connections=max_connections, max_keepalive_connections=min(max_connections, 100)
    )
    timeout = http_timeout(silence_timeout)
    hooks = {"request": [_trace_context]}
    client_cls = aiohttp_cls if transport == "aiohttp" else httpx2.AsyncClient
    return client_cls(timeout=timeout, limits=limits, verify=tls_context(), event_hooks=hooks)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _body_message(body: object) -> tuple[str | None, str | None]:
    """(message, type) from `{"error": {...}}`, `{"message": ...}` or the error object itself."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message, kind = inner.get("message"), inner.get("type")
            return (message if isinstance(message, str) else None, kind if isinstance(kind, str) else None)
        if isinstance(inner, str):
            return inner, None
    return None, None


def _overflowed(body: object, message: str) -> bool:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        inner = body["error"]
        if inner.get("code") == "context_length_exceeded" or inner.get("type") == "request_too_large":
            return True
    return bool(_OVERFLOW.search(message))


def status_error(
    provider_id: str, response: httpx2.Response
) -> APIError | ProviderAuthError | ContextOverflowError:
    """An HTTP error answer, shaped like opencode's stored APIError."""
    try:
        text = response.text
    except (httpx2.ResponseNotRead, UnicodeDecodeError):
        text = ""
    return error_for_status(
        provider_id, response.status_code, text, response.headers.items(), str(response.request.url)
    )


def error_for_status(
    provider_id: str, status: int, text: str, headers: Iterable[tuple[str, str]], url: str
) -> APIError | ProviderAuthError | ContextOverflowError:
    """The error for an answer of `status` with body `text`: the one rule of which statuses are
    retryable, which mean bad credentials and which a context overflow, for every provider."""
    raw = text
    try:
        parsed: object = json.loads(text)
    except ValueError:
        text, parsed = "", None
    message = _body_message(parsed)[0] or text or f"HTTP {status}"
    if status in (401, 403):
        return ProviderAuthError(provider_id, message)
    if 400 <= status < 500 and (status == 413 or _overflowed(parsed, raw or message)):
        return ContextOverflowError(message, response_body=raw or None)
    lowered = {k.lower(): v for k, v in headers}
    return APIError(
        message,
        status_code=status,
        retryable=status in (408, 409, 429) or status >= 500,
        response_headers=lowered,
        response_body=text,
        metadata={"url": url},
        retry_after=parse_retry_after(lowered),
    )


def stream_error(body: object, fallback: str) -> APIError | ContextOverflowError:
    """An error event inside a 200 stream: no status code, retryable when the provider says so."""
    message, kind = _body_message(body)
    if _overflowed(body, message or fallback):
        return ContextOverflowError(message or fallback, response_body=json.dumps(body))
    return APIError(
        message or fallback,
        retryable=kind in _RETRYABLE_TYPES,
        response_body=json.dumps(body) if body is not None else None,
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def transport_error(exc: BaseException, silence_timeout: float, url: str | None) -> APIError:
    """A transport failure: silence, refused connection or a cut stream, all retryable."""
    chain = _chain(exc)
    # The vendored aiohttp bridge maps every ClientConnectionError to httpx2.ConnectTimeout, so
    # the aiohttp cause, when there is one, is the truth; only then look at httpx2's own types.
    kind = "reset"
    aio = [e for e in chain if isinstance(e, aiohttp.ClientError)]
    if aio:
        first = aio[-1]
        if isinstance(first, aiohttp.ConnectionTimeoutError):
            kind = "connect-timeout"
        elif isinstance(first, aiohttp.ServerTimeoutError):
            kind = "silence"
        elif isinstance(first, aiohttp.ClientConnectorError):
            kind = "connect"
    elif any(isinstance(e, httpx2.ConnectTimeout) for e in chain):
        kind = "connect-timeout"
    elif any(isinstance(e, httpx2.TimeoutException) for e in chain):
        kind = "silence"
    elif any(isinstance(e, httpx2.ConnectError) for e in chain):
        kind = "connect"
    detail = str(chain[-1]) or type(chain[-1]).__name__
    metadata = {"url": url or "", "message": detail}
    if kind == "silence":
        return ProviderSilenceError(silence_timeout, metadata=metadata)
    if kind == "connect-timeout":
        return APIError(
            f"could not connect to the provider within {min(silence_timeout, 30.0):g} s",
            retryable=True,
            metadata=metadata,
        )
    if kind == "connect":
        return ProviderUnreachableError(f"Unable to connect to the provider: {detail}", metadata=metadata)
    return APIError(RESET_MESSAGE, retryable=True, metadata={**metadata, "code": "ECONNRESET"})


def incomplete_stream(url: str) -> APIError:
    return APIError(
        RESET_MESSAGE,
        retryable=True,
        metadata={"url": url, "code": "ECONNRESET", "message": "stream ended without a finish"},
    )


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


# --- the adapter ----------------------------------------------------------------------------------


class _Stream(Protocol):
    async def close(self) -> None: ...


S = TypeVar("S", bound=_Stream)


class SDKProvider(Provider, Generic[S]):
    """What a call through an official SDK is, whichever SDK: build the body, open the stream, read
    its events, close it; and every failure mapped to wakeful's errors here, once. Both SDKs are
    generated from one template, so `sdk.APIStatusError` / `APIConnectionError` / `APIError` mean
    the same in each."""

    sdk: ModuleType
    url: str  # the endpoint a call goes to, for error metadata

    def __init__(self, provider_id: str, endpoint: Endpoint) -> None:
        self.id = provider_id
        self._silence = endpoint.silence_timeout

    def client_options(self, endpoint: Endpoint) -> dict[str, Any]:
        """The SDK client's options that do not depend on the SDK."""
        return {
            "default_headers": dict(endpoint.headers),
            "max_retries": 0,  # the run loop owns retries
            "timeout": http_timeout(endpoint.silence_timeout),
            "http_client": http_client(
                self.sdk.DefaultAioHttpClient,
                endpoint.transport,
                endpoint.silence_timeout,
                endpoint.max_connections,
            ),
        }

    @abstractmethod
    async def _body(self, request: ChatRequest) -> dict[str, Any]: ...

    @abstractmethod
    async def _open(self, request: ChatRequest, body: dict[str, Any]) -> S: ...

    @abstractmethod
    def _events(self, raw: S) -> AsyncIterator[StreamEvent]: ...

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        body = await self._body(request)
        try:
            raw = await self._open(request, body)
            try:
                async for event in self._events(raw):
                    yield event
            finally:
                await raw.close()
        except WakefulError:
            raise
        except Exception as exc:
            mapped = self._error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _error(self, exc: Exception) -> APIError | ProviderAuthError | ContextOverflowError | None:
        sdk = self.sdk
        if isinstance(exc, sdk.APIStatusError):
            if exc.status_code < 400:  # an `error` event inside a 200 stream
                return stream_error(exc.body, exc.message)
            return status_error(self.id, exc.response)
        if isinstance(exc, sdk.APIConnectionError):
            return transport_error(exc, self._silence, self.url)
        if isinstance(exc, sdk.APIError):
            return stream_error(exc.body, exc.message)
        # an SDK may let a transport error met while reading the stream through unwrapped, and an
        # adapter sending on the HTTP client itself meets them all unwrapped (the SDK's set of them)
        if isinstance(exc, httpx2.RequestError | anyio.EndOfStream | aiohttp.ClientError | OSError):
            return transport_error(exc, self._silence, self.url)
        return None
