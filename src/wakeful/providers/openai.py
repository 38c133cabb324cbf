"""OpenAI-compatible chat completions through the official `openai` SDK, always streamed.

Options (`ChatRequest.options`, in opencode.json's spelling) go into the body as the AI SDK's
OpenAI-compatible package puts them: the keys it knows renamed to the wire's (`reasoningEffort` ->
`reasoning_effort`, ...), every other key passed through as given, except those that only the
Responses API or the SDK itself understands. OpenAI's reasoning models (o1, o3, o4, gpt-5) take
`max_completion_tokens` and no sampling parameters, as the SDK sends them.

Usage is normalised across adapters: `Usage.input` counts uncached prompt tokens only (as opencode's
`tokens.input`), `cache_read` the cached ones, `output` the completion tokens as the provider reports
them (reasoning included), `reasoning` the reasoning share when the provider says.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai

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
    Usage,
    is_text_mime,
)
from wakeful.providers.http import (
    OPENAI_FINISH,
    SDKProvider,
    incomplete_stream,
    new_call_id,
    status_error,
    stream_error,
)
from wakeful.providers.sse import SSEStream

# opencode.json's option names -> the chat completions body's
_RENAMED = {
    "reasoningEffort": "reasoning_effort",
    "textVerbosity": "verbosity",
    "parallelToolCalls": "parallel_tool_calls",
    "promptCacheKey": "prompt_cache_key",
    "serviceTier": "service_tier",
    "maxCompletionTokens": "max_completion_tokens",
    "logitBias": "logit_bias",
    "safetyIdentifier": "safety_identifier",
}
# Options of the Responses API or of the SDK itself, which chat completions would refuse.
_NOT_SENT = {"reasoningSummary", "include", "strictJsonSchema", "instructions", "setCacheKey"}
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5(?!-chat))")


def wire_options(options: dict[str, Any]) -> dict[str, Any]:
    return {_RENAMED.get(k, k): v for k, v in options.items() if k not in _NOT_SENT}


class OpenAIProvider(SDKProvider[SSEStream]):
    """The request is sent on the SDK client's own HTTP client with headers and URL built once, as
    the SDK would build them for this call (its retries are off, so they never change), and the
    answer read by `SSEStream`: the SDK built both per call, a fifth of a short prompt's time."""

    sdk = openai

    def __init__(self, provider_id: str, endpoint: Endpoint) -> None:
        super().__init__(provider_id, endpoint)
        client = openai.AsyncOpenAI(
            api_key=endpoint.api_key or _no_key,
            base_url=endpoint.base_url or "https://api.openai.com/v1",
            **self.client_options(endpoint),
        )
        # the SDK read OPENAI_ORG_ID / OPENAI_PROJECT_ID; those belong to OpenAI's own account only
        client.organization = None
        client.project = None
        self._client = client
        self._http = client._client
        self.url = f"{str(client.base_url).rstrip('/')}/chat/completions"
        self._url = httpx2.URL(self.url)
        auth = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        headers = {**auth, **client.default_headers, "Content-Type": "application/json"}
        if not endpoint.api_key:
            # Without a key send no Authorization at all (as the AI SDK does), and never let the
            # SDK fall back to OPENAI_API_KEY: that key must not reach another provider.
            headers.pop("Authorization", None)
        timeout = client.timeout
        read = timeout.read if isinstance(timeout, httpx2.Timeout) else timeout
        headers["x-stainless-retry-count"] = "0"
        if read is not None:
            headers["x-stainless-read-timeout"] = str(read)
        self._headers = httpx2.Headers({k: v for k, v in headers.items() if isinstance(v, str)})

    async def aclose(self) -> None:
        await self._client.close()

    async def _open(self, request: ChatRequest, body: dict[str, Any]) -> SSEStream:
        # The body goes as bytes this adapter encoded (each message once: `_encoded`), and chunks
        # come back as plain JSON: the SDK would otherwise walk every message against its
        # TypedDicts on the event loop (~50 ms for a 300-message history) and build a pydantic
        # model of every streamed chunk. The whole body exists only while it is sent: a request
        # may wait minutes for its answer, and a thousand of them would each keep a copy.
        pieces = _pieces(body)
        headers = {**self._headers, "Content-Length": str(sum(map(len, pieces)))}
        sent = self._http.build_request("POST", self._url, headers=headers, content=_joined(pieces))
        response = await self._http.send(sent, stream=True)
        if not response.is_success:
            try:
                await response.aread()
            finally:
                await response.aclose()
            if response.status_code < 400:  # an unfollowed redirect: failed as the SDK fails it
                text = response.text.strip()
                try:
                    parsed: object = json.loads(text)
                except ValueError:
                    parsed = text
                inner = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
                raise stream_error(inner, f"Error code: {response.status_code}")
            raise status_error(self.id, response)
        return SSEStream(response)

    async def _events(self, chunks: SSEStream) -> AsyncIterator[StreamEvent]:
        calls: dict[int, list[str]] = {}  # index -> [id, name, argument text...]
        finish: str | None = None
        usage: Usage | None = None
        async for chunk in chunks:
            if not isinstance(chunk, dict):
                continue
            if isinstance(u := chunk.get("usage"), dict):
                cached = _count(u.get("prompt_tokens_details"), "cached_tokens")
                usage = Usage(
                    input=max(0, _count(u, "prompt_tokens") - cached),
                    output=_count(u, "completion_tokens"),
                    reasoning=_count(u.get("completion_tokens_details"), "reasoning_tokens"),
                    cache_read=cached,
                )
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                # not part of the OpenAI schema: DeepSeek/vLLM say reasoning_content, others reasoning
                thought = delta.get("reasoning_content") or delta.get("reasoning")
                if isinstance(thought, str) and thought:
                    yield ReasoningDelta(thought)
                if isinstance(content := delta.get("content"), str) and content:
                    yield TextDelta(content)
                for tc in delta.get("tool_calls") or ():
                    # some compatible servers omit `index`: a new id then starts the next call
                    index = tc.get("index")
                    if index is None:
                        index = len(calls) if tc.get("id") or not calls else max(calls)
                    slot = calls.setdefault(index, [tc.get("id") or new_call_id(), ""])
                    function = tc.get("function")
                    if isinstance(function, dict):
                        if function.get("name"):
                            slot[1] = function["name"]
                        if function.get("arguments"):
                            slot.append(function["arguments"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        if finish is None:
            raise incomplete_stream(self.url)
        for index in sorted(calls):
            call_id, name, *args = calls[index]
            yield ToolCallEvent(ToolCall(id=call_id, name=name, arguments="".join(args) or "{}"))
        if usage is not None:
            yield usage
        yield Finish(OPENAI_FINISH.get(finish, "other"))

    async def _body(self, request: ChatRequest) -> dict[str, Any]:
        """The request's body; its `messages` and `tools` are JSON encoded already (`_encode`)."""
        messages = [_system(s) for s in request.system if s]
        # Most messages were encoded for an earlier request: taken without a coroutine each.
        messages += [m.wire.get("openai") or await _encoded(m) for m in request.messages]
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        if request.tool_choice is not None and request.tools:
            body["tool_choice"] = request.tool_choice
        reasoning = bool(_REASONING_MODEL.match(request.model))
        if request.max_tokens is not None:
            body["max_completion_tokens" if reasoning else "max_tokens"] = request.max_tokens
        if not reasoning:
            if request.temperature is not None:
                body["temperature"] = request.temperature
            if request.top_p is not None:
                body["top_p"] = request.top_p
        body.update(wire_options(request.options))
        return body


async def _no_key() -> str:
    return ""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _pieces(body: dict[str, Any]) -> list[bytes]:
    """`body` as JSON, in pieces: its `messages` and `tools` (lists of encoded JSON, which the
    messages and tools keep) spliced in as they are."""
    sections: list[list[bytes]] = []
    for key in ("messages", "tools"):
        if key in body:
            section = [b'"%s":[' % key.encode()]
            for k, item in enumerate(body[key]):
                section += (b",", item) if k else (item,)
            sections.append([*section, b"]"])
    rest = _dumps({k: v for k, v in body.items() if k not in ("messages", "tools")})
    if rest != b"{}":
        sections.append([rest[1:-1]])
    pieces = [b"{"]
    for k, section in enumerate(sections):
        pieces += [b",", *section] if k else section
    pieces.append(b"}")
    return pieces


async def _joined(pieces: list[bytes]) -> AsyncIterator[bytes]:
    data = b"".join(pieces)
    pieces.clear()
    yield data


@functools.lru_cache(maxsize=64)
def _system(text: str) -> bytes:
    # Every run of an agent and model has the same system prompt: one encoding serves them all.
    return _dumps({"role": "system", "content": text})


def _count(mapping: object, key: str) -> int:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, int) else 0


async def _encoded(m: ChatMessage) -> bytes:
    done: bytes | None = m.wire.get("openai")
    if done is None:
        done = m.wire["openai"] = _dumps(await _message(m))
    return done


def _tool(t: ToolDefinition) -> bytes:
    done: bytes | None = t.wire.get("openai")
    if done is None:
        function = {"name": t.name, "description": t.description, "parameters": t.parameters}
        done = t.wire["openai"] = _dumps({"type": "function", "function": function})
    return done


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
        data = base64.b64encode(att.content()).decode()
        return {"type": "image_url", "image_url": {"url": f"data:{att.mime};base64,{data}"}}
    raw = att.content()
    if is_text_mime(att.mime):
        text = raw.decode("utf-8", errors="replace")
        return {"type": "text", "text": f"{att.filename}:\n{text}" if att.filename else text}
    if att.mime == "application/pdf":
        data_url = f"data:application/pdf;base64,{base64.b64encode(raw).decode()}"
        return {"type": "file", "file": {"filename": att.filename or "file.pdf", "file_data": data_url}}
    return {"type": "text", "text": f"[attachment {att.filename or ''} ({att.mime}) not supported]"}
