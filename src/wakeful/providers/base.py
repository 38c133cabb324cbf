"""The seam between the agent loop and a model's wire API.

A Provider turns one `ChatRequest` (a neutral conversation plus tool definitions) into a stream of
`StreamEvent`s. One adapter per wire API (OpenAI-compatible chat completions, Anthropic Messages)
implements it; the loop never sees an SDK type. Failures are raised as `wakeful.errors.APIError`
(with `retryable` set) or `ProviderAuthError`; the loop owns retries, so adapters never retry.
"""

from __future__ import annotations

import base64
import binascii
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

Transport = Literal["aiohttp", "httpx"]  # what carries the SDKs' HTTP


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the raw JSON text the model produced


@dataclass(frozen=True)
class Attachment:
    mime: str
    url: str  # a data: URL (the run reads files before the model sees them) or an http(s) URL
    filename: str | None = None

    def content(self) -> bytes:
        """The bytes of a data: URL; ValueError for anything else."""
        return data_url_bytes(self.url)


_TEXT_MIMES = ("application/json", "application/xml", "application/x-sh", "application/javascript")


def is_text_mime(mime: str) -> bool:
    return mime.startswith("text/") or mime in (*_TEXT_MIMES, "application/x-yaml")


def data_url_bytes(url: str) -> bytes:
    """The content of a `data:` URL (base64 or percent-encoded); ValueError when it is not one."""
    if not url.startswith("data:"):
        raise ValueError("not a data: URL")
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise ValueError("malformed data: URL (no comma)")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"malformed data: URL ({exc})") from None
    return unquote_to_bytes(payload)


def to_data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@dataclass
class ChatMessage:
    """One message of a conversation. Never changed once a request carried it: the history's
    messages are shared by the requests of every later run of the session, and `wire` keeps what
    each adapter made of one (adapter -> its encoding), so that it is converted once."""

    role: Literal["user", "assistant", "tool"]
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None  # for role "tool": the call it answers
    is_error: bool = False  # for role "tool": the tool failed
    attachments: list[Attachment] = field(default_factory=list)
    wire: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ToolDefinition:
    """What the model sees of a tool: its name, what it does, and the JSON schema of its arguments.
    Never changed once made; `wire` keeps what each adapter made of it, as ChatMessage's does (and
    the run its size)."""

    name: str
    description: str
    parameters: dict[str, Any]
    wire: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class ChatRequest:
    """One model call. `options` are the call's provider options in opencode.json's spelling (the
    AI SDK's: `reasoningEffort`, `thinking: {type, budgetTokens}`, ...); each adapter puts on its
    wire those it knows. `purpose` says why the call is made: an agent step, or the summary of a
    compaction (which offers no tools)."""

    model: str
    system: list[str]
    messages: list[ChatMessage]
    tools: list[ToolDefinition] = field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    tool_choice: Literal["auto", "required"] | None = None
    purpose: Literal["step", "summary"] = "step"


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    call: ToolCall


@dataclass(frozen=True)
class Usage:
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True)
class Finish:
    reason: str  # "stop", "tool-calls", "length", "content-filter", "other"


StreamEvent = TextDelta | ReasoningDelta | ToolCallEvent | Usage | Finish


class Provider(ABC):
    """One configured provider (`provider.<id>` of opencode.json) speaking one wire API."""

    id: str

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one model call. Raise APIError / ProviderAuthError on failure."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the shared HTTP client."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how an SDK adapter reaches its provider: `provider.<id>.options` of opencode.json
    (env references resolved) and the server's transport settings."""

    silence_timeout: float
    max_connections: int
    transport: Transport
    base_url: str | None = None
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], *, silence_timeout: float, max_connections: int, transport: Transport
    ) -> Endpoint:
        headers = options.get("headers")
        return cls(
            silence_timeout=silence_timeout,
            max_connections=max_connections,
            transport=transport,
            base_url=options.get("baseURL") or options.get("baseUrl") or None,
            api_key=options.get("apiKey") or None,
            headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) else {},
        )
