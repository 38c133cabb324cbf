"""Anthropic Messages through the official `anthropic` SDK, streamed as raw events.

Transport and error mapping are shared with the OpenAI adapter (see `wakeful.providers.openai`).

Options (`ChatRequest.options`) as the AI SDK's Anthropic package sends them: `thinking: {type,
budgetTokens}` becomes extended thinking, whose budget comes on top of `max_tokens` and which
leaves out the sampling parameters and a forced tool choice (the API refuses them together);
`disableParallelToolUse` goes into `tool_choice`. Other options are not Anthropic's and are dropped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
from anthropic.types import RawMessageStreamEvent

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
    ANTHROPIC_STOP,
    SDKProvider,
    incomplete_stream,
)

DEFAULT_MAX_TOKENS = 8192


class AnthropicProvider(SDKProvider[anthropic.AsyncStream[RawMessageStreamEvent]]):
    sdk = anthropic

    def __init__(self, provider_id: str, endpoint: Endpoint) -> None:
        super().__init__(provider_id, endpoint)
        # opencode's baseURL for Anthropic ends in /v1 (the AI SDK appends /messages); the SDK adds /v1
        root = (endpoint.base_url or "https://api.anthropic.com").rstrip("/").removesuffix("/v1")
        # An explicit api_key (even "") keeps the SDK from reading ANTHROPIC_API_KEY and friends.
        self._extra_headers: dict[str, Any] = {} if endpoint.api_key else {"Authorization": anthropic.omit}
        self._client = anthropic.AsyncAnthropic(
            api_key=endpoint.api_key or "", base_url=root, **self.client_options(endpoint)
        )
        self.url = f"{root}/v1/messages"

    async def aclose(self) -> None:
        await self._client.close()

    async def _open(
        self, request: ChatRequest, body: dict[str, Any]
    ) -> anthropic.AsyncStream[RawMessageStreamEvent]:
        # extra_body skips the SDK's walk of every message against its TypedDicts (see openai.py)
        return await self._client.messages.create(
            model=request.model,
            max_tokens=body["max_tokens"],
            messages=[],
            stream=True,
            extra_body=body,
            extra_headers=self._extra_headers,
        )

    async def _events(
        self, events: anthropic.AsyncStream[RawMessageStreamEvent]
    ) -> AsyncIterator[StreamEvent]:
        tools: dict[int, list[str]] = {}  # block index -> [id, name, json pieces...]
        usage = {"input": 0, "output": 0, "reasoning": 0, "cache_read": 0, "cache_write": 0}
        stop: str | None = None
        done = False
        async for ev in events:
            if ev.type == "message_start":
                u = ev.message.usage
                usage.update(
                    input=u.input_tokens,
                    output=u.output_tokens,
                    cache_read=u.cache_read_input_tokens or 0,
                    cache_write=u.cache_creation_input_tokens or 0,
                )
            elif ev.type == "content_block_start":
                block = ev.content_block
                if block.type == "tool_use":
                    tools[ev.index] = [block.id, block.name]
                elif block.type == "text" and block.text:
                    yield TextDelta(block.text)
                elif block.type == "thinking" and block.thinking:
                    yield ReasoningDelta(block.thinking)
            elif ev.type == "content_block_delta":
                delta = ev.delta
                if delta.type == "text_delta":
                    yield TextDelta(delta.text)
                elif delta.type == "thinking_delta":
                    yield ReasoningDelta(delta.thinking)
                elif delta.type == "input_json_delta" and ev.index in tools:
                    tools[ev.index].append(delta.partial_json)
            elif ev.type == "content_block_stop" and ev.index in tools:
                call_id, name, *pieces = tools.pop(ev.index)
                yield ToolCallEvent(ToolCall(id=call_id, name=name, arguments="".join(pieces) or "{}"))
            elif ev.type == "message_delta":
                stop = ev.delta.stop_reason or stop
                du = ev.usage
                reported = {
                    "output": du.output_tokens,
                    "input": du.input_tokens,
                    "cache_read": du.cache_read_input_tokens,
                    "cache_write": du.cache_creation_input_tokens,
                    "reasoning": du.output_tokens_details.thinking_tokens if du.output_tokens_details else None,
                }
                usage.update({k: v for k, v in reported.items() if v is not None})
            elif ev.type == "message_stop":
                done = True
        if not done or stop is None:
            raise incomplete_stream(self.url)
        yield Usage(**usage)
        yield Finish(ANTHROPIC_STOP.get(stop, "other"))

    async def _body(self, request: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        for m in request.messages:
            role = "assistant" if m.role == "assistant" else "user"
            blocks = await _blocks(m)
            if not blocks:
                continue  # the API refuses empty content
            if messages and messages[-1]["role"] == role:
                # parallel tool results must share one user turn
                messages[-1]["content"].extend(blocks)
            else:
                messages.append({"role": role, "content": blocks})
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "stream": True,
        }
        system = [{"type": "text", "text": s} for s in request.system if s]
        if system:
            body["system"] = system
        thinking = _thinking(request.options)
        if thinking is not None:
            body["thinking"] = thinking
            body["max_tokens"] += thinking.get("budget_tokens", 0)
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
            choice: dict[str, Any] = {"type": "any" if request.tool_choice == "required" else "auto"}
            if thinking is not None:
                choice["type"] = "auto"
            if request.options.get("disableParallelToolUse"):
                choice["disable_parallel_tool_use"] = True
            if choice != {"type": "auto"}:
                body["tool_choice"] = choice
        if thinking is None:
            if request.temperature is not None:
                body["temperature"] = request.temperature
            if request.top_p is not None:
                body["top_p"] = request.top_p
        return body


async def _blocks(m: ChatMessage) -> list[dict[str, Any]]:
    if m.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id or "",
                "content": m.text or "(empty)",
                "is_error": m.is_error,
            }
        ]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": m.text}] if m.text.strip() else []
    if m.role == "assistant":
        # reasoning is not replayed: a thinking block is refused without the signature we do not keep
        for c in m.tool_calls:
            blocks.append(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _json_object(c.arguments)}
            )
        return blocks
    for att in m.attachments:
        blocks.append(await _attachment_block(att))
    return blocks


def _thinking(options: dict[str, Any]) -> dict[str, Any] | None:
    raw = options.get("thinking")
    if not isinstance(raw, dict) or raw.get("type") not in ("enabled", "adaptive"):
        return None
    out: dict[str, Any] = {"type": raw["type"]}
    budget = raw.get("budgetTokens", raw.get("budget_tokens"))
    if raw["type"] == "enabled" and isinstance(budget, int):
        out["budget_tokens"] = budget
    return out


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _attachment_block(att: Attachment) -> dict[str, Any]:
    if att.mime.startswith("image/") and att.url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": att.url}}
    raw = att.content()
    if att.mime.startswith("image/"):
        data = base64.b64encode(raw).decode()
        return {"type": "image", "source": {"type": "base64", "media_type": att.mime, "data": data}}
    if att.mime == "application/pdf":
        data = base64.b64encode(raw).decode()
        return {"type": "document", "source": {"type": "base64", "media_type": att.mime, "data": data}}
    if is_text_mime(att.mime):
        text = raw.decode("utf-8", errors="replace")
        return {"type": "text", "text": f"{att.filename}:\n{text}" if att.filename else text}
    return {"type": "text", "text": f"[attachment {att.filename or ''} ({att.mime}) not supported]"}
