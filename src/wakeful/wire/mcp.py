"""MCP servers on the wire: their config entries (opencode.json's `mcp`, `POST /mcp`), their status,
their resources, and the `mcp.tools.changed` event. Shaped like the reference's schemas of the same
names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from wakeful.wire.base import Wire


class McpLocalConfig(Wire):
    """A server wakeful starts: `command` and its arguments, talked to over stdin/stdout."""

    type: Literal["local"]
    command: list[str] = Field(min_length=1, description="Command and arguments to run the MCP server")
    cwd: str | None = Field(None, description="Working directory, relative to the project directory")
    environment: dict[str, str] | None = None
    enabled: bool | None = None
    timeout: int | None = Field(None, gt=0, description="Milliseconds each request to the server may take")


class McpRemoteConfig(Wire):
    """A server at `url`: streamable HTTP, or the older HTTP+SSE transport if that fails."""

    type: Literal["remote"]
    url: str = Field(description="URL of the remote MCP server")
    enabled: bool | None = None
    headers: dict[str, str] | None = None
    # Accepted so that opencode's configs load; wakeful does no OAuth log-in (send a token in headers).
    oauth: dict[str, Any] | Literal[False] | None = None
    timeout: int | None = Field(None, gt=0, description="Milliseconds each request to the server may take")


McpConfig = Annotated[McpLocalConfig | McpRemoteConfig, Field(discriminator="type")]


class McpAddBody(Wire):
    name: str = Field(min_length=1)
    config: McpConfig


class MCPStatus(Wire):
    """One MCP server's state (the reference's `MCPStatus` union, by its `status` tag): `failed`
    carries the error."""

    status: Literal["connected", "disabled", "failed", "needs_auth", "needs_client_registration"]
    error: str | None = None


class McpResource(Wire):
    name: str
    uri: str
    description: str | None = None
    mimeType: str | None = None
    client: str  # the server's name


class McpToolsChanged(Wire):
    """The properties of `mcp.tools.changed`: the server whose tool list changed."""

    server: str
