"""One MCP server, kept connected by a task of its own: connect, list its tools, serve calls, and
after a crash or a lost connection connect again with backoff (`wakeful.backoff`).

The SDK's client (its task group included) lives entirely inside that task, which is the only one
that opens and closes it; calls come from the runs' tasks. Invariants:
- `status` is `connected` exactly while a client is open; otherwise `failed` with the reason (and
  when the next attempt is), or `disabled` once stopped.
- Every call ends: with the server's answer, with a `ToolError` when the server does not answer
  within the timeout or the connection ends first (the process exits, the HTTP connection fails),
  or with the caller's cancellation, which cancels the request (abort, deadline, shutdown).
- `stop()` returns once the client is closed (and a local server's process group killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wakeful.backoff import backoff_delay
from wakeful.errors import ToolError
from wakeful.mcp.config import ServerSpec
from wakeful.mcp.processes import ProcessRecord
from wakeful.mcp.stdio import StdioTransport
from wakeful.version import __version__
from wakeful.wire.mcp import McpLocalConfig, McpRemoteConfig, MCPStatus

if TYPE_CHECKING:
    import mcp_types
    from mcp.client.client import Client
    from mcp.client.session import IncomingMessage

log = logging.getLogger("wakeful.mcp")
_PAGES = 100  # a server whose tool list never stops paginating is cut off here


@dataclass(frozen=True)
class Limits:
    startup: float  # seconds to start (or reach) the server, agree on the protocol and list its tools
    request: float  # seconds each request may take when the server's entry gives no `timeout`
    grace: float  # seconds a local server may take to exit once its stdin is closed
    restart_base: float  # backoff of reconnections: first delay, doubling up to `restart_cap`
    restart_cap: float


@dataclass(frozen=True)
class RemoteTool:
    """A tool as the server offers it."""

    name: str
    description: str
    schema: dict[str, Any]
    read_only: bool


def _explain(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_explain(e) for e in exc.exceptions)
    return str(exc) or type(exc).__name__


class Connection:
    def __init__(
        self,
        spec: ServerSpec,
        limits: Limits,
        env: dict[str, str],
        record: ProcessRecord,
        on_tools_changed: Callable[[Connection], None],
    ) -> None:
        self.spec = spec
        self.limits = limits
        self.env = env
        self.record = record
        self.on_tools_changed = on_tools_changed
        self.status = MCPStatus(status="failed", error="not connected yet")
        self.tools: list[RemoteTool] = []
        self.pid: int | None = None  # a local server's process (its group's id)
        self._client: Client | None = None
        self._process: StdioTransport | None = None  # a local server's, while connected
        self._lost = asyncio.Event()
        self._stopped = asyncio.Event()
        self._wake = asyncio.Event()  # cuts a backoff short
        self._changed = asyncio.Condition()
        self._attempts = 0  # attempts to connect that have ended, in success or failure
        self._task: asyncio.Task[None] | None = None
        self._refreshing: set[asyncio.Task[None]] = set()

    @property
    def request_timeout(self) -> float:
        return self.spec.timeout(self.limits.request)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._stopped = asyncio.Event()
            self._task = asyncio.create_task(self._supervise(), name=f"mcp {self.spec.name}")

    async def started(self) -> None:
        """Return once the first attempt to connect has ended (either way)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._attempts > 0 or not self.running)

    async def reconnect(self) -> None:
        """Unless connected, try again now rather than after the backoff; return once that attempt
        has ended."""
        if self.status.status == "connected" or not self.running:
            return
        seen = self._attempts
        self._wake.set()
        async with self._changed:
            await self._changed.wait_for(lambda: self._attempts > seen or not self.running)

    async def stop(self) -> None:
        """Close the connection (a local server's process group is killed) and start no other."""
        self._stopped.set()
        self._lost.set()
        task = self._task
        if task is not None:
            if self._client is None:  # still connecting: nothing to close gracefully
                task.cancel()
            await asyncio.wait({task})
        self._task = None
        await self._set(MCPStatus(status="disabled"))

    # --- the connection's task --------------------------------------------------------------------

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._stopped.is_set():
            began = loop.time()
            try:
                reason = await self._serve()
            except Exception as exc:
                reason = _explain(exc)
            if self._stopped.is_set():
                return
            # A connection that held for a while starts the backoff afresh.
            attempt = 1 if loop.time() - began > self.limits.restart_cap else attempt + 1
            delay = backoff_delay(attempt, self.limits.restart_base, self.limits.restart_cap)
            log.warning("MCP server %s: %s; reconnecting in %.1f s", self.spec.name, reason, delay)
            await self._set(MCPStatus(status="failed", error=f"{reason} (reconnecting in {delay:.1f} s)"))
            self._wake.clear()
            waits = [asyncio.create_task(self._stopped.wait()), asyncio.create_task(self._wake.wait())]
            try:
                await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    await _cancel(wait)

    async def _serve(self) -> str:
        """Connect, list the tools, and wait for the connection to end; answers why it ended. Every
        attempt is counted once, when it connects or fails to."""
        self._lost = asyncio.Event()
        connected = self._attempts + 1
        try:
            return await self._connect_and_wait()
        finally:
            self._attempts = max(self._attempts, connected)

    async def _connect_and_wait(self) -> str:
        async with contextlib.AsyncExitStack() as stack:
            transport: StdioTransport | None = None
            async with asyncio.timeout(self.limits.startup):
                if isinstance(self.spec.config, McpLocalConfig):
                    transport = self._stdio(self.spec.config)
                    client = await stack.enter_async_context(self._client_for(transport))
                else:
                    client = await self._remote(stack, self.spec.config)
                tools = await self._list_tools(client)
            stack.callback(self._forget_client)
            self._client = client
            self._process = transport
            self.tools = tools
            self._attempts += 1
            await self._set(MCPStatus(status="connected"))
            log.info("MCP server %s connected: %d tools", self.spec.name, len(tools))
            if _listens(client):
                stack.push_async_callback(_cancel, asyncio.create_task(self._listen(client)))
            waits = [asyncio.create_task(self._lost.wait())]
            if transport is not None:
                waits.append(asyncio.create_task(transport.ended.wait()))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    await _cancel(wait)
            if transport is not None and transport.ended.is_set():
                return await transport.end_reason()
            return "the connection was lost"

    def _forget_client(self) -> None:
        self._client = None
        self._process = None
        self._lost.set()

    def _stdio(self, config: McpLocalConfig) -> StdioTransport:
        env = {**self.env, **(config.environment or {})}

        async def on_process(pgid: int | None) -> None:
            if pgid is not None:
                self.pid = pgid
                await self.record.add(pgid, self.spec.name)
            elif self.pid is not None:
                await self.record.remove(self.pid)
                self.pid = None

        return StdioTransport(
            config.command, cwd=self.spec.cwd, env=env, on_process=on_process, grace=self.limits.grace
        )

    def _client_for(self, transport: Any) -> Client:
        from mcp.client.client import Client
        from mcp_types import Implementation

        return Client(
            transport,
            cache=None,
            message_handler=self._on_message,
            client_info=Implementation(name="wakeful", version=__version__),
            read_timeout_seconds=self.request_timeout,
        )

    async def _remote(self, stack: contextlib.AsyncExitStack, config: McpRemoteConfig) -> Client:
        """Streamable HTTP, else the older HTTP+SSE transport, as the reference tries them."""
        import httpx2
        from mcp.client.sse import sse_client
        from mcp.client.streamable_http import streamable_http_client

        headers = config.headers or {}

        async def http_client() -> httpx2.AsyncClient:
            # A new client loads the TLS trust store, a quarter of a second: never on the loop. The
            # SDK's timeouts: its streams stay open; each request is bounded by the session.
            timeout = httpx2.Timeout(30.0, read=300.0)
            return await asyncio.to_thread(
                functools.partial(httpx2.AsyncClient, headers=headers, timeout=timeout)
            )

        try:
            async with contextlib.AsyncExitStack() as attempt:
                http = await attempt.enter_async_context(await http_client())
                transport = streamable_http_client(config.url, http_client=http)
                client = await attempt.enter_async_context(self._client_for(transport))
                stack.push_async_exit(attempt.pop_all())
                return client
        except Exception as streamable:
            built = await http_client()

            def factory(
                headers: dict[str, str] | None = None,
                timeout: httpx2.Timeout | None = None,
                auth: httpx2.Auth | None = None,
            ) -> httpx2.AsyncClient:
                return built

            try:
                sse = sse_client(config.url, headers=headers, httpx_client_factory=factory)
                return await stack.enter_async_context(self._client_for(sse))
            except Exception as failed:
                raise ConnectionError(
                    f"streamable HTTP: {_explain(streamable)}; HTTP+SSE: {_explain(failed)}"
                ) from None

    async def _list_tools(self, client: Client) -> list[RemoteTool]:
        tools: list[RemoteTool] = []
        cursor: str | None = None
        for _ in range(_PAGES):
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                hint = tool.annotations.read_only_hint if tool.annotations else None
                tools.append(RemoteTool(tool.name, tool.description or "", tool.input_schema, hint is True))
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    # --- tool-list changes ------------------------------------------------------------------------

    async def _on_message(self, message: IncomingMessage) -> None:
        import mcp_types

        if isinstance(message, mcp_types.ToolListChangedNotification):
            self._refresh_soon()
        elif isinstance(message, Exception) and not isinstance(message, ValueError):
            # A broken HTTP exchange; a line a local server garbled (ValueError) is only logged.
            log.warning("MCP server %s: %s", self.spec.name, _explain(message))
            if isinstance(self.spec.config, McpRemoteConfig):
                self._lost.set()

    async def _listen(self, client: Client) -> None:
        """On 2026-07-28 connections the server announces changes on a `subscriptions/listen` stream."""
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _ in subscription:
                    self._refresh_soon()
        except Exception as exc:
            log.info("MCP server %s: no tool-list changes will be seen: %s", self.spec.name, _explain(exc))

    def _refresh_soon(self) -> None:
        # Not in the handler itself: it runs in the SDK's receive loop, which the listing needs.
        task = asyncio.create_task(self._refresh())
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            async with asyncio.timeout(self.request_timeout):
                self.tools = await self._list_tools(client)
        except Exception as exc:
            log.warning("MCP server %s: listing its changed tools failed: %s", self.spec.name, _explain(exc))
            return
        self.on_tools_changed(self)

    # --- the runs' side ---------------------------------------------------------------------------

    async def _set(self, status: MCPStatus) -> None:
        async with self._changed:
            self.status = status
            self._changed.notify_all()

    def _usable(self) -> Client | None:
        """The open client, unless its connection has ended (the supervisor may not know yet)."""
        if self._lost.is_set() or (self._process is not None and self._process.ended.is_set()):
            return None
        return self._client

    async def _ready(self, timeout: float) -> Client:
        """The open client; while there is none, wait (at most `timeout`) for the next attempt."""
        client = self._usable()
        if client is not None:
            return client
        if not self.running:
            raise ToolError(f"The MCP server {self.spec.name} is disconnected")
        seen = self._attempts
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(
                    lambda: self._usable() is not None or self._attempts > seen or not self.running
                )
        except TimeoutError:
            pass
        client = self._usable()
        if client is None:
            raise ToolError(
                f"The MCP server {self.spec.name} is not connected: {self.status.error or 'stopped'}"
            )
        return client

    async def call(self, tool: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
        """Call `tool`; a `ToolError` when the server cannot be had, fails the call, does not answer
        in time or goes away first."""
        from mcp.shared.exceptions import MCPError

        timeout = self.request_timeout
        client = await self._ready(timeout)
        lost, process = self._lost, self._process

        def went_away(detail: str) -> ToolError:
            why = process.describe_end() if process is not None else detail
            return ToolError(f"The MCP server {self.spec.name} went away during the call: {why}")

        request = asyncio.create_task(client.call_tool(tool, arguments, read_timeout_seconds=timeout))
        gone = asyncio.create_task(lost.wait())
        try:
            done, _ = await asyncio.wait(
                {request, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            await _cancel(gone)
            if not request.done():
                await _cancel(request)
        if request not in done:
            if gone in done:
                raise went_away(self.status.error or "disconnected")
            raise ToolError(f"The MCP server {self.spec.name} did not answer within {timeout:g} s")
        try:
            return request.result()
        except MCPError as exc:
            if lost.is_set() or (process is not None and process.ended.is_set()):
                raise went_away(str(exc)) from None
            raise ToolError(f"The MCP server {self.spec.name} refused the call: {exc}") from None
        except Exception as exc:
            raise ToolError(f"The call to the MCP server {self.spec.name} failed: {_explain(exc)}") from None

    async def resources(self) -> list[mcp_types.Resource]:
        client = self._client
        if client is None:
            return []
        found: list[mcp_types.Resource] = []
        cursor: str | None = None
        async with asyncio.timeout(self.request_timeout):
            for _ in range(_PAGES):
                page = await client.list_resources(cursor=cursor)
                found.extend(page.resources)
                cursor = page.next_cursor
                if not cursor:
                    break
        return found


def _listens(client: Client) -> bool:
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    tools = client.server_capabilities.tools
    return client.protocol_version in MODERN_PROTOCOL_VERSIONS and bool(tools and tools.list_changed)


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait for it to end; unlike awaiting it, this never swallows the caller's
    own cancellation."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: a failure while it was being cancelled is of no interest
