"""An MCP server's tool as a `wakeful.tools.base.Tool`, offered to the model as `<server>_<tool>`.

Like the reference: the schema is the server's, made an object that allows no other properties; a
call asks permission under the tool's own name (pattern `*`), so that rules and agents' `tools` maps
name MCP tools as they name built-in ones; the result's text parts become the output, joined by
blank lines, its images and embedded binary resources become attachments (file parts with data:
URLs), and embedded text resources join the text; a text too long for the model is cut and kept
whole by the run like any tool's (`wakeful.tools.output`). A result the server marks `isError` is a
tool error (the reference passes it on as output).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wakeful import ids
from wakeful.errors import ToolError
from wakeful.mcp.config import sanitize
from wakeful.mcp.connection import Connection, RemoteTool
from wakeful.providers.base import ToolDefinition
from wakeful.tools.base import ToolContext, ToolResult
from wakeful.wire.parts import FilePart

if TYPE_CHECKING:
    import mcp_types


def tool_name(server: str, tool: str) -> str:
    return f"{sanitize(server)}_{sanitize(tool)}"


def model_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        **schema,
        "type": "object",
        "properties": schema.get("properties") or {},
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class McpTool:
    connection: Connection
    remote: RemoteTool
    definition: ToolDefinition

    @classmethod
    def of(cls, connection: Connection, remote: RemoteTool) -> McpTool:
        definition = ToolDefinition(
            name=tool_name(connection.spec.name, remote.name),
            description=remote.description,
            parameters=model_schema(remote.schema),
        )
        return cls(connection, remote, definition)

    @property
    def read_only(self) -> bool:
        """What the server says of it (`readOnlyHint`): a hint, which is all a plan agent needs."""
        return self.remote.read_only

    async def call(self, raw_args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        await ctx.ask(self.definition.name, ["*"], always=["*"])
        result = await self.connection.call(self.remote.name, raw_args)
        texts, attachments = _convert(result, ctx)
        output = "\n\n".join(texts)
        if result.is_error:
            raise ToolError(output or f"The MCP tool {self.definition.name} failed without saying why")
        return ToolResult(output=output, attachments=attachments)


def _convert(result: mcp_types.CallToolResult, ctx: ToolContext) -> tuple[list[str], list[FilePart]]:
    import mcp_types

    texts: list[str] = []
    attachments: list[FilePart] = []

    def attach(mime: str, data: str, filename: str | None = None) -> None:
        attachments.append(
            FilePart(
                id=ids.part_id(),
                sessionID=ctx.session_id,
                messageID=ctx.message_id,
                mime=mime,
                url=f"data:{mime};base64,{data}",
                filename=filename,
            )
        )

    for item in result.content:
        if isinstance(item, mcp_types.TextContent):
            texts.append(item.text)
        elif isinstance(item, mcp_types.ImageContent):
            attach(item.mime_type, item.data)
        elif isinstance(item, mcp_types.EmbeddedResource):
            resource = item.resource
            if isinstance(resource, mcp_types.TextResourceContents):
                texts.append(resource.text)
            else:
                attach(resource.mime_type or "application/octet-stream", resource.blob, resource.uri)
    return texts, attachments
