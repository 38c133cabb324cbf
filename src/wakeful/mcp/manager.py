"""The MCP servers of every project, as a runtime service: one `Connection` per server, shared by
every project whose config gives the same entry (`ServerSpec.key`), started when a project first
needs it (a run's step, `GET /mcp`) and stopped at shutdown.

Per project directory, what the API changed at run time: servers added by `POST /mcp` (over the
config's entries of the same name) and servers switched off by `POST /mcp/{name}/disconnect`
(`connect` switches them on again, even one the config disables). Both last until the server stops.

The `mcp` SDK is imported only here and below, in a thread, the first time a project has a server
to start: a server whose projects configure none never loads it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from pathlib import Path

from wakeful.config import ServerConfig
from wakeful.errors import McpServerNotFoundError
from wakeful.mcp.config import ServerSpec, configured, parse_entry, sanitize
from wakeful.mcp.connection import Connection, Limits
from wakeful.mcp.processes import ProcessRecord
from wakeful.mcp.tool import McpTool
from wakeful.project.config import ProjectConfig
from wakeful.session.bus import EventBus
from wakeful.tools.base import Tool
from wakeful.wire.mcp import McpConfig, McpResource, MCPStatus, McpToolsChanged

log = logging.getLogger("wakeful.mcp")
_SDK_MODULES = ("mcp_types", "mcp.client.client", "mcp.client.sse", "mcp.client.streamable_http")


class McpManager:
    def __init__(self, config: ServerConfig, bus: EventBus, env: dict[str, str]) -> None:
        self.limits = Limits(
            startup=config.mcp_startup_timeout,
            request=config.mcp_timeout,
            grace=config.mcp_stop_grace,
            restart_base=config.mcp_restart_base,
            restart_cap=config.mcp_restart_max_delay,
        )
        self.bus = bus
        self.env = env
        self.record = ProcessRecord(config.data_dir)
        self._connections: dict[str, Connection] = {}  # by ServerSpec.key
        self._added: dict[Path, dict[str, ServerSpec | MCPStatus]] = {}
        self._switched: dict[Path, dict[str, bool]] = {}  # connect (True) / disconnect (False)
        self._sdk: asyncio.Task[None] | None = None
        self._closed = False

    # --- what a project has -----------------------------------------------------------------------

    def _entries(self, project: ProjectConfig) -> dict[str, ServerSpec | MCPStatus]:
        return {**configured(project), **self._added.get(project.directory, {})}

    def _wanted(self, project: ProjectConfig, entry: ServerSpec) -> bool:
        switched = self._switched.get(project.directory, {}).get(entry.name)
        return entry.enabled if switched is None else switched

    async def _connections_of(self, project: ProjectConfig) -> dict[str, Connection | MCPStatus]:
        """Each server of the project: its started connection (its first attempt over), or its status."""
        out: dict[str, Connection | MCPStatus] = {}
        for name, entry in self._entries(project).items():
            if isinstance(entry, MCPStatus):
                out[name] = entry
            elif not self._wanted(project, entry):
                out[name] = MCPStatus(status="disabled")
            else:
                out[name] = await self._start(entry)
        await asyncio.gather(*(c.started() for c in out.values() if isinstance(c, Connection)))
        return out

    async def _start(self, spec: ServerSpec) -> Connection:
        if self._closed:
            raise RuntimeError("the MCP servers were stopped")
        await self._load_sdk()
        connection = self._connections.get(spec.key)
        if connection is None:
            connection = Connection(spec, self.limits, self.env, self.record, self._tools_changed)
            self._connections[spec.key] = connection
        connection.start()
        return connection

    async def _load_sdk(self) -> None:
        # The SDK takes about a second to import: never on the event loop.
        if self._sdk is None:
            self._sdk = asyncio.create_task(asyncio.to_thread(_import_sdk))
        await asyncio.shield(self._sdk)

    def _tools_changed(self, connection: Connection) -> None:
        self.bus.publish("mcp.tools.changed", McpToolsChanged(server=connection.spec.name).wire())

    # --- for runs ---------------------------------------------------------------------------------

    async def tools(self, project: ProjectConfig) -> dict[str, Tool]:
        """The tools of the project's servers, by the name the model calls them; servers not
        started yet are started (and waited for) first. A server that is reconnecting after a crash
        keeps offering the tools it had: a call waits for the reconnection."""
        if self._closed or not self._entries(project):
            return {}
        tools: dict[str, Tool] = {}
        for connection in (await self._connections_of(project)).values():
            if isinstance(connection, Connection) and connection.running:
                for remote in connection.tools:
                    tool = McpTool.of(connection, remote)
                    tools.setdefault(tool.definition.name, tool)
        return tools

    # --- for the routes ---------------------------------------------------------------------------

    async def status(self, project: ProjectConfig) -> dict[str, MCPStatus]:
        if not self._entries(project):
            return {}
        return {
            name: c.status if isinstance(c, Connection) else c
            for name, c in (await self._connections_of(project)).items()
        }

    async def add(self, project: ProjectConfig, name: str, config: McpConfig) -> dict[str, MCPStatus]:
        """Add (or replace) a server of the project, as if its config had it; answers every status."""
        self._added.setdefault(project.directory, {})[name] = parse_entry(
            name, config.wire(), project.directory
        )
        self._switched.get(project.directory, {}).pop(name, None)
        return await self.status(project)

    async def switch(self, project: ProjectConfig, name: str, on: bool) -> None:
        """Connect (`on`) or disconnect a server of the project; the connection is stopped for every
        project that shares it, and started again by the next one that needs it."""
        entry = self._entries(project).get(name)
        if entry is None:
            raise McpServerNotFoundError(name)
        self._switched.setdefault(project.directory, {})[name] = on
        if isinstance(entry, MCPStatus):
            return
        if on:
            connection = await self._start(entry)
            await connection.started()
            await connection.reconnect()
        elif (stopping := self._connections.pop(entry.key, None)) is not None:
            await stopping.stop()

    async def resources(self, project: ProjectConfig) -> dict[str, McpResource]:
        out: dict[str, McpResource] = {}
        if not self._entries(project):
            return out
        for name, connection in (await self._connections_of(project)).items():
            if not isinstance(connection, Connection):
                continue
            try:
                found = await connection.resources()
            except Exception as exc:
                log.warning("MCP server %s: listing its resources failed: %s", name, exc)
                continue
            for resource in found:
                out[f"{sanitize(name)}:{sanitize(resource.name)}"] = McpResource(
                    name=resource.name,
                    uri=resource.uri,
                    description=resource.description,
                    mimeType=resource.mime_type,
                    client=name,
                )
        return out

    # --- the server's side ------------------------------------------------------------------------

    async def recover(self) -> int:
        """At start: kill the local servers a dead server left running (see `processes`)."""
        return await self.record.kill_left_over()

    async def close(self) -> None:
        """Stop every server; none starts after this."""
        self._closed = True
        connections = list(self._connections.values())
        self._connections.clear()
        await asyncio.gather(*(c.stop() for c in connections))
        if self._sdk is not None:
            await asyncio.wait({self._sdk})


def _import_sdk() -> None:
    for module in _SDK_MODULES:
        importlib.import_module(module)
