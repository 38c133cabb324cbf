"""A change the API makes to a project's MCP servers (`POST /mcp`, `/mcp/{name}/connect|disconnect`),
as replicas hand it to each other: every replica runs connections of its own (a run uses those of
the replica it runs on), so each applies every change (run/replicas.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from wakeful.wire.mcp import McpConfig


class McpAdded(BaseModel):
    """`POST /mcp`: the server `name` added to the project, or its entry replaced."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["add"] = "add"
    name: str
    config: McpConfig


class McpSwitched(BaseModel):
    """`/mcp/{name}/connect` (`on`) or `/disconnect`."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["switch"] = "switch"
    name: str
    on: bool


McpChange = Annotated[McpAdded | McpSwitched, Field(discriminator="kind")]
CHANGE: TypeAdapter[McpAdded | McpSwitched] = TypeAdapter(McpChange)
