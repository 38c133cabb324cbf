"""An MCP server for the tests, written with the pinned `mcp` SDK: run as a script it is a local
(stdio) server; `serve_http` serves one over streamable HTTP on loopback, in a thread of the test.

Tools: `echo` (read-only) says its text back; `hold` never answers: it writes its pid to the FIFO
named by $MCP_HOLD_FIFO and waits to be killed (a call in flight, with no clock involved); `wait`
never answers either, silently; `spawn` starts a `sleep` in the server's process group; `grow`
adds a tool and announces that the tool list changed; `picture` answers with text, an image and an
embedded file. One resource: `runbook`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio
import uvicorn
from mcp.client.client import Client
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import BlobResourceContents, EmbeddedResource, ImageContent, TextContent, ToolAnnotations

PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n-not-really").decode()


@dataclass
class Served:
    server: MCPServer
    calls: list[str] = field(default_factory=list)  # the tools called, in order


def build() -> Served:
    mcp = Served(MCPServer("wakeful-tests", log_level="WARNING"))
    server = mcp.server

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        """Say `text` back."""
        mcp.calls.append("echo")
        return f"echo: {text}"

    @server.tool()
    async def hold() -> str:
        """Never answers."""
        mcp.calls.append("hold")

        def tell() -> None:
            with open(os.environ["MCP_HOLD_FIFO"], "w") as fifo:
                fifo.write(f"{os.getpid()}\n")

        await anyio.to_thread.run_sync(tell)
        await anyio.sleep_forever()
        return "unreachable"

    @server.tool()
    async def wait() -> str:
        """Never answers, and says nothing."""
        mcp.calls.append("wait")
        await anyio.sleep_forever()
        return "unreachable"

    @server.tool()
    def spawn() -> str:
        """Start a helper that ignores its server's end (`sleep 300`, in the server's process
        group); answers its pid."""
        mcp.calls.append("spawn")
        helper = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        return str(helper.pid)

    @server.tool()
    async def grow(called: str, ctx: Context) -> str:
        """Add a tool called `called`."""
        mcp.calls.append("grow")
        server.add_tool(lambda: f"{called} here", name=called, description="Added at run time")
        await ctx.notify_tools_changed()
        return "grown"

    @server.tool()
    def picture() -> list[TextContent | ImageContent | EmbeddedResource]:
        """A chart and its data."""
        mcp.calls.append("picture")
        return [
            TextContent(text="the chart"),
            ImageContent(data=PIXEL, mime_type="image/png"),
            EmbeddedResource(
                resource=BlobResourceContents(
                    uri="file:///data.bin", blob=PIXEL, mime_type="application/x-data"
                )
            ),
        ]

    @server.resource(
        "file:///runbook.md", name="runbook", mime_type="text/markdown", description="What to do"
    )
    def runbook() -> str:
        return "# Runbook"

    return mcp


@contextmanager
def serve_http() -> Iterator[tuple[str, Served]]:
    """A server over streamable HTTP on a loopback port, in a thread: (its URL, the server), once
    a first client has connected, listed and called (so that no test pays the first-use costs of
    either side). Stop its clients first: it waits (briefly) for their connections to close."""
    served = build()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections wait in the backlog until uvicorn takes them
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    app = served.server.streamable_http_app()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        asyncio.run(_first_client(url))
        served.calls.clear()
        yield url, served
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


async def _first_client(url: str) -> None:
    async with Client(url) as client:
        await client.list_tools()
        await client.call_tool("echo", {"text": "warm"})
        await client.list_resources()


if __name__ == "__main__":
    build().server.run("stdio")
