"""OpenAI-compatible chat completions through the official `openai` SDK, always streamed.

Also home of the transport helpers both adapters share (HTTP client, error mapping), because both
SDKs sit on the same `httpx2` layer and fail the same ways.

Usage is normalised across adapters: `Usage.input` counts uncached prompt tokens only (as opencode's
`tokens.input`), `cache_read` the cached ones, `output` the completion tokens as the provider reports
them (reasoning included), `reasoning` the reasoning share when the provider says.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

import aiohttp
import httpx2
import openai
from openai.types.chat import ChatCompletionChunk

from wakeful.errors import APIError, ProviderAuthError, ProviderSilenceError
from wakeful.providers.base import (
    Attachment,
    ChatMessage,
    ChatRequest,
    Finish,
    Provider,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)

Transport = Literal["aiohttp", "httpx"]
RESET_MESSAGE = "Connection reset by server"
_FINISH = {
    "stop": "stop",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "length": "length",
    "content_filter": "content-filter",
}
_RETRYABLE_TYPES = {"server_error", "api_error", "overloaded_error", "rate_limit_error", "timeout_error"}

# --- shared transport helpers ---------------------------------------------------------------------


def http_timeout(silence_timeout: float) -> httpx2.Timeout:
    # `read` is between two reads (and before the headers): exactly "the provider went silent".
    # No pool timeout: waiting for one of our own connection slots is not provider silence.
    return httpx2.Timeout(
        connect=min(silence_timeout, 30.0), read=silence_timeout, write=silence_timeout, pool=None
    )


def http_client(
    aiohttp_cls: type[httpx2.AsyncClient], transport: Transport, silence_timeout: float, max_connections: int
) -> httpx2.AsyncClient:
    """The SDK's HTTP client; `aiohttp_cls` is that SDK's DefaultAioHttpClient."""
    limits = httpx2.Limits(
        max_connections=max_connections, max_keepalive_connections=min(max_connections, 100)
    )
    timeout = http_timeout(silence_timeout)
    if transport == "aiohttp":
        return aiohttp_cls(timeout=timeout, limits=limits)
    return httpx2.AsyncClient(timeout=timeout, limits=limits)


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


def status_error(provider_id: str, response: httpx2.Response) -> APIError | ProviderAuthError:
    """An HTTP error answer, shaped like opencode's stored APIError."""
    status = response.status_code
    try:
        text = response.text
        parsed: object = json.loads(text)
    except (httpx2.ResponseNotRead, UnicodeDecodeError, ValueError):
        text, parsed = "", None
    message = _body_message(parsed)[0] or text or f"HTTP {status}"
    if status in (401, 403):
        return ProviderAuthError(provider_id, message)
    headers = {k.lower(): v for k, v in response.headers.items()}
    return APIError(
        message,
        status_code=status,
        retryable=status in (408, 409, 429) or status >= 500,
        response_headers=headers,
        response_body=text,
        metadata={"url": str(response.request.url)},
        retry_after=parse_retry_after(headers),
    )


def stream_error(body: object, fallback: str) -> APIError:
    """An error event inside a 200 stream: no status code, retryable when the provider says so."""
    message, kind = _body_message(body)
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
        return APIError(f"Unable to connect to the provider: {detail}", retryable=True, metadata=metadata)
    return APIError(RESET_MESSAGE, retryable=True, metadata={**metadata, "code": "ECONNRESET"})


def incomplete_stream(url: str) -> APIError:
    return APIError(
        RESET_MESSAGE,
        retryable=True,
        metadata={"url": url, "code": "ECONNRESET", "message": "stream ended without a finish"},
    )


async def attachment_bytes(att: Attachment) -> bytes:
    """The content of a data: URL, a file:// URL or a plain path."""
    if att.url.startswith("data:"):
        meta, _, payload = att.url.partition(",")
        return base64.b64decode(payload) if meta.endswith(";base64") else unquote_to_bytes(payload)
    path = att.url.removeprefix("file://")
    return await asyncio.to_thread(Path(path).read_bytes)


def is_text_mime(mime: str) -> bool:
    return mime.startswith("text/") or mime in (
        "application/json",
        "application/xml",
        "application/x-sh",
        "application/javascript",
        "application/x-yaml",
    )


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


# --- the adapter ----------------------------------------------------------------------------------


class OpenAIProvider(Provider):
    def __init__(
        self,
        provider_id: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        silence_timeout: float = 300.0,
        max_connections: int = 1000,
        transport: Transport = "aiohttp",
    ) -> None:
        self.id = provider_id
        self._silence = silence_timeout
        self._extra_headers: dict[str, Any] = {}
        if not api_key:
            # Without a key send no Authorization at all (as the AI SDK does), and never let the
            # SDK fall back to OPENAI_API_KEY: that key must not reach another provider.
            self._extra_headers["Authorization"] = openai.omit
        self._client = openai.AsyncOpenAI(
            api_key=api_key or _no_key,
            base_url=base_url or "https://api.openai.com/v1",
            default_headers=dict(headers or {}),
            max_retries=0,  # the run loop owns retries
            timeout=http_timeout(silence_timeout),
            http_client=http_client(openai.DefaultAioHttpClient, transport, silence_timeout, max_connections),
        )
        # the SDK read OPENAI_ORG_ID / OPENAI_PROJECT_ID; those belong to OpenAI's own account only
        self._client.organization = None
        self._client.project = None
        self._url = f"{str(self._client.base_url).rstrip('/')}/chat/completions"

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        body = await self._body(request)
        try:
            # The body goes as extra_body: the SDK would otherwise walk every message against its
            # TypedDicts on the event loop, ~50 ms for a 300-message history (json.dumps: 2 ms).
            chunks = await self._client.chat.completions.create(
                model=request.model,
                messages=[],
                stream=True,
                extra_body=body,
                extra_headers=self._extra_headers,
            )
            try:
                async for event in self._events(chunks):
                    yield event
            finally:
                await chunks.close()
        except openai.APIStatusError as exc:
            raise status_error(self.id, exc.response) from exc
        except openai.APIConnectionError as exc:
            raise transport_error(exc, self._silence, self._url) from exc
        except openai.APIError as exc:
            raise stream_error(exc.body, exc.message) from exc
        except (httpx2.TransportError, aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc, self._silence, self._url) from exc

    async def _events(self, chunks: openai.AsyncStream[ChatCompletionChunk]) -> AsyncIterator[StreamEvent]:
        calls: dict[int, list[str]] = {}  # index -> [id, name, argument text...]
        finish: str | None = None
        usage: Usage | None = None
        async for chunk in chunks:
            if chunk.usage is not None:
                u = chunk.usage
                cached = (u.prompt_tokens_details.cached_tokens or 0) if u.prompt_tokens_details else 0
                details = u.completion_tokens_details
                reasoning = (details.reasoning_tokens or 0) if details else 0
                usage = Usage(
                    input=max(0, (u.prompt_tokens or 0) - cached),
                    output=u.completion_tokens or 0,
                    reasoning=reasoning,
                    cache_read=cached,
                )
            for choice in chunk.choices:
                delta = choice.delta
                # not part of the OpenAI schema: DeepSeek/vLLM say reasoning_content, others reasoning
                thought = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
                if isinstance(thought, str) and thought:
                    yield ReasoningDelta(thought)
                if delta.content:
                    yield TextDelta(delta.content)
                for tc in delta.tool_calls or []:
                    # some compatible servers omit `index`: a new id then starts the next call
                    index = getattr(tc, "index", None)
                    if index is None:
                        index = len(calls) if tc.id or not calls else max(calls)
                    slot = calls.setdefault(index, [tc.id or new_call_id(), ""])
                    if tc.function is not None:
                        if tc.function.name:
                            slot[1] = tc.function.name
                        if tc.function.arguments:
                            slot.append(tc.function.arguments)
                if choice.finish_reason:
                    finish = choice.finish_reason
        if finish is None:
            raise incomplete_stream(self._url)
        for index in sorted(calls):
            call_id, name, *args = calls[index]
            yield ToolCallEvent(ToolCall(id=call_id, name=name, arguments="".join(args) or "{}"))
        if usage is not None:
            yield usage
        yield Finish(_FINISH.get(finish, "other"))

    async def _body(self, request: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": s} for s in request.system if s]
        for m in request.messages:
            messages.append(await _message(m))
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body


async def _no_key() -> str:
    return ""


async def _message(m: ChatMessage) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.text}
    if m.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": m.text or None}
        if m.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in m.tool_calls
            ]
        elif not m.text:
            out["content"] = ""
        return out
    if not m.attachments:
        return {"role": "user", "content": m.text}
    parts: list[dict[str, Any]] = [{"type": "text", "text": m.text}] if m.text else []
    for att in m.attachments:
        parts.append(await _attachment_part(att))
    return {"role": "user", "content": parts}


async def _attachment_part(att: Attachment) -> dict[str, Any]:
    if att.mime.startswith("image/"):
        if att.url.startswith(("http://", "https://", "data:")):
            return {"type": "image_url", "image_url": {"url": att.url}}
        data = base64.b64encode(await attachment_bytes(att)).decode()
        return {"type": "image_url", "image_url": {"url": f"data:{att.mime};base64,{data}"}}
    raw = await attachment_bytes(att)
    if is_text_mime(att.mime):
        text = raw.decode("utf-8", errors="replace")
        return {"type": "text", "text": f"{att.filename}:\n{text}" if att.filename else text}
    if att.mime == "application/pdf":
        data_url = f"data:application/pdf;base64,{base64.b64encode(raw).decode()}"
        return {"type": "file", "file": {"filename": att.filename or "file.pdf", "file_data": data_url}}
    return {"type": "text", "text": f"[attachment {att.filename or ''} ({att.mime}) not supported]"}
