"""What the MCP tests share: the test server's command line, and waiting on its FIFO."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from tests.support.inproc import PATIENCE

SERVER = Path(__file__).with_name("mcp_server.py")


def local_server(**extra: Any) -> dict[str, Any]:
    """The `mcp` entry of the test server as a local (stdio) server."""
    return {"type": "local", "command": [sys.executable, str(SERVER)], **extra}


def hold_fifo(directory: Path) -> Path:
    path = directory / "hold.fifo"
    os.mkfifo(path)
    return path


async def read_line(fifo: Path) -> str:
    """The next line written to `fifo`, waited for on the event loop. Opened for reading and
    writing, so that it neither blocks nor sees an end before the writer comes."""
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(fd, readable.set)
    try:
        async with asyncio.timeout(PATIENCE):
            await readable.wait()
        return os.read(fd, 1024).decode().strip()
    finally:
        loop.remove_reader(fd)
        os.close(fd)
