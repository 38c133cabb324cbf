"""What opencode's terminal UI asks about at start-up beyond sessions and config: language servers,
formatters, log-in methods, workspaces and capabilities (MCP servers: `wakeful.wire.mcp`).

Shaped like the reference's schemas of the same names. wakeful has none of these things (yet), so
its answers are the empty ones; the models say what would be in them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wakeful.wire.base import Wire


class LSPStatus(Wire):
    id: str
    name: str
    root: str
    status: Literal["connected", "error"]


class FormatterStatus(Wire):
    name: str
    extensions: list[str]
    enabled: bool


class ProviderAuthMethod(Wire):
    type: Literal["oauth", "api"]
    label: str


class ExperimentalCapabilities(Wire):
    backgroundSubagents: bool


class ConsoleState(Wire):
    """opencode Console (a hosted account): wakeful manages no provider through one."""

    consoleManagedProviders: list[str]
    activeOrgName: str | None = None
    switchableOrgCount: int = Field(ge=0)


class Workspace(Wire):
    id: str = Field(pattern=r"^wrk")
    type: str
    name: str
    projectID: str
    timeUsed: float


class WorkspaceStatus(Wire):
    workspaceID: str = Field(pattern=r"^wrk")
    status: Literal["connected", "connecting", "disconnected", "error"]
