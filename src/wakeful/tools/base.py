"""The seam between the agent loop and what a tool does.

A `Tool` offers the model its `ToolDefinition` (name, description, JSON schema of the arguments) and
is called with the arguments the model wrote, already parsed from JSON but otherwise unchecked: the
tool validates them itself and raises `wakeful.errors.ToolError` for bad arguments or a failure, and
the model sees the message. Cancelling the task that runs a tool (abort, deadline, shutdown) must
stop everything the tool started before the cancellation propagates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wakeful.config import ServerConfig
from wakeful.providers.base import ToolDefinition
from wakeful.tools.pool import ToolPool, default_pool
from wakeful.wire.parts import FilePart

if TYPE_CHECKING:
    import httpx

    from wakeful.tools.output import KeptOutputs


@dataclass
class ToolResult:
    output: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: list[FilePart] = field(default_factory=list)  # images and files the model is shown too


class TodoStore(Protocol):
    async def get_todos(self, session_id: str) -> list[dict[str, Any]]: ...

    async def set_todos(self, session_id: str, todos: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class PermissionAsk:
    """What a tool call needs permission for (see `wakeful.project.permissions`): `patterns` for
    this call, `always` the patterns an `always` reply allows from then on."""

    permission: str
    patterns: list[str]
    always: list[str]
    metadata: dict[str, Any]
    session_id: str
    message_id: str
    call_id: str


@dataclass(frozen=True)
class SubagentRequest:
    """A subagent to run in a child session of the calling session: `agent` answers `prompt`.
    `task_id` names an earlier child session to continue; `model` ("provider", "model") overrides
    the agent's and the caller's model."""

    agent: str
    prompt: str
    description: str
    task_id: str | None = None
    command: str | None = None
    model: tuple[str, str] | None = None


@dataclass(frozen=True)
class SubagentReply:
    session_id: str  # the child session
    text: str  # the child's final text
    model: dict[str, str]  # {"providerID", "modelID"} the child ran on


class SubagentRunner(Protocol):
    async def __call__(
        self,
        request: SubagentRequest,
        ctx: ToolContext,
        started: Callable[[str, dict[str, str]], Awaitable[None]],
    ) -> SubagentReply:
        """Run the subagent to its answer; `started(session_id, model)` is awaited once the child
        session exists, before it runs. Raise `ToolError` if it cannot run or its run failed.
        Cancelling the caller stops the child's run, and everything it started, first."""
        ...


class WebClients(Protocol):
    async def get(self) -> httpx.AsyncClient:
        """The client that outgoing HTTP requests share (`wakeful.tools.webfetch.WebClient`)."""
        ...


class PermissionGate(Protocol):
    async def __call__(self, ask: PermissionAsk) -> None:
        """Return once the call may go ahead; raise `ToolError` (saying why) if it may not:
        denied by a rule, rejected, or nobody answered in time."""
        ...


@dataclass
class ToolContext:
    session_id: str
    message_id: str
    call_id: str
    directory: Path
    # the server passes its own; a context made elsewhere (tests, embedders) gets the defaults
    config: ServerConfig = field(default_factory=lambda: ServerConfig.build({}))
    todos: TodoStore | None = None
    # Called with the process-group id of every process a tool starts, and with None when it is
    # gone, so that crash recovery can kill what a dead server left behind.
    on_process: Callable[[int | None], Awaitable[None]] | None = None
    env: dict[str, str] | None = None  # the environment for child processes (secrets removed)
    # Where outputs too long for the model are kept in full; the read tool may always read there.
    outputs: KeptOutputs | None = None
    # The run's permission check; without one (a context made outside a run) everything is allowed.
    gate: PermissionGate | None = None
    pool: ToolPool = field(default_factory=default_pool)  # where blocking file work runs
    # The run's HTTP client (webfetch); a context made outside a run gets a client per call.
    web: WebClients | None = None
    # How a call starts a subagent (the task tool); without one, subagents are not available.
    subagent: SubagentRunner | None = None
    # Shows a running call's title and metadata (its tool part) before it completes.
    on_metadata: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None

    async def set_metadata(self, title: str, metadata: dict[str, Any]) -> None:
        if self.on_metadata is not None:
            await self.on_metadata(title, metadata)

    async def ask(
        self,
        permission: str,
        patterns: list[str],
        *,
        always: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Return once the call may use `permission` for `patterns`; raise `ToolError` otherwise.
        `always` defaults to `["*"]`: an `always` reply then allows the permission altogether."""
        if self.gate is None or not patterns:
            return
        await self.gate(
            PermissionAsk(
                permission,
                list(patterns),
                ["*"] if always is None else list(always),
                metadata or {},
                self.session_id,
                self.message_id,
                self.call_id,
            )
        )


class Tool(Protocol):
    """A built-in tool (`wakeful.tools.typed`) or one whose schema comes from elsewhere."""

    @property
    def definition(self) -> ToolDefinition: ...

    @property
    def read_only(self) -> bool:
        """Whether the tool leaves the project and the session as they were (plan agents use only these)."""
        ...

    async def call(self, raw_args: dict[str, Any], ctx: ToolContext) -> ToolResult: ...
