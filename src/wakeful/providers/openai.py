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
import re
from collections.abc import AsyncIterator
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk

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
    Usage,
    is_text_mime,
)
from wakeful.providers.http import (
    OPENAI_FINISH,
    SDKProvider,
    incomplete_stream,
    new_call_id,
)

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


class OpenAIProvider(SDKProvider[openai.AsyncStream[ChatCompletionChunk]]):
    sdk = openai

    def __init__(self, provider_id: str, endpoint: Endpoint) -> None:
        super().__init__(provider_id, endpoint)
        self._extra_headers: dict[str, Any] = {}
        if not endpoint.api_key:
            # Without a key send no Authorization at all (as the AI SDK does), and never let the
            # SDK fall back to OPENAI_API_KEY: that key must not reach another provider.
            self._extra_headers["Authorization"] = openai.omit
        self._client = openai.AsyncOpenAI(
            api_key=endpoint.api_key or _no_key,
            base_url=endpoint.base_url or "https://api.openai.com/v1",
            **self.client_options(endpoint),
        )
        # the SDK read OPENAI_ORG_ID / OPENAI_PROJECT_ID; those belong to OpenAI's own account only
        self._client.organization = None
        self._client.project = None
        self.url = f"{str(self._client.base_url).rstrip('/')}/chat/completions"

    async def aclose(self) -> None:
        await self._client.close()

    async def _open(
        self, request: ChatRequest, body: dict[str, Any]
    ) -> openai.AsyncStream[ChatCompletionChunk]:
        # The body goes as extra_body: the SDK would otherwise walk every message against its
        # TypedDicts on the event loop, ~50 ms for a 300-message history (json.dumps: 2 ms).
        return await self._client.chat.completions.create(
            model=request.model,
            messages=[],
            stream=True,
            extra_body=body,
            extra_headers=self._extra_headers,
        )

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
            raise incomplete_stream(self.url)
        for index in sorted(calls):
            call_id, name, *args = calls[index]
            yield ToolCallEvent(ToolCall(id=call_id, name=name, arguments="".join(args) or "{}"))
        if usage is not None:
            yield usage
        yield Finish(OPENAI_FINISH.get(finish, "other"))

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
