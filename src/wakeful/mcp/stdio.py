"""A local MCP server's process, as a transport of the `mcp` SDK (newline-delimited JSON-RPC over
its stdin and stdout).

wakeful starts the process itself rather than through the SDK's `stdio_client`, which keeps the
process to itself: crash recovery must know its process group before it runs anything. So the
process starts as `shell -c _GATE command args...` in a new session (its pid is its group's id),
waits for one line on stdin, and only then becomes the server. `on_process` records the group in
between; a wakeful killed before that closes the pipe and the shell exits without running the server.

Invariants: every way out (the server exits, the connection is closed, a failure, cancellation) ends
with SIGKILL to the whole group, after the server was given `grace` seconds to exit on the end of
its stdin as the MCP lifecycle asks; `ended` is set once the server's stdout ends or it exits, and
then the read stream ends too, so the SDK sees the connection close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, cast

from wakeful.tools.bash import shell_path, signal_group

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
    from mcp.client._transport import TransportStreams
    from mcp.shared.message import SessionMessage

log = logging.getLogger("wakeful.mcp")

# Wait for the parent's newline (EOF: the parent died before recording the group), then become the
# server with the same stdin, so the first JSON-RPC line is the server's. `read` takes a pipe byte by
# byte, so nothing after the newline is consumed.
_GATE = 'read -r _ || exit 125; exec "$0" "$@"'
_PAUSE_AT = 64  # lines read ahead of the session before reading stops
_STDERR_LINES = 20  # the last lines of stderr kept to explain a failure
_KILL_WAIT = 2.0  # how long the killed group's leader may take to be reaped


class CommandNotFoundError(OSError):
    pass


def resolve_command(command: str, env: Mapping[str, str], cwd: Path) -> str:
    """The executable `command` names, looked up in `env`'s PATH as the process would; raises
    CommandNotFoundError so that a bad command is reported as such, not as the gate's exit."""
    if "/" in command:
        path = command if os.path.isabs(command) else str(cwd / command)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
        raise CommandNotFoundError(f"{command}: not an executable file")
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        raise CommandNotFoundError(f"{command}: command not found in PATH")
    return found


class _Pipes(asyncio.SubprocessProtocol):
    def __init__(self) -> None:
        self.lines: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self.exited = asyncio.Event()
        self.transport: asyncio.SubprocessTransport | None = None
        self._partial = bytearray()
        self._err_partial = bytearray()
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed throughout: uvloop's transports are not asyncio's classes.
        self.transport = cast(asyncio.SubprocessTransport, transport)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        raw = data if isinstance(data, bytes) else data.encode()
        if fd == 2:
            self._err_partial += raw
            *lines, rest = self._err_partial.split(b"\n")
            self._err_partial = bytearray(rest)
            for line in lines:
                text = line.decode(errors="replace").rstrip()
                if text:
                    self.stderr.append(text)
                    log.debug("mcp server stderr: %s", text)
            return
        self._partial += raw
        *lines, rest = self._partial.split(b"\n")
        self._partial = bytearray(rest)
        for line in lines:
            if line.strip():
                self.lines.put_nowait(bytes(line))
        if self.lines.qsize() >= _PAUSE_AT and not self._paused:
            self._reading(False)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.lines.put_nowait(None)

    def process_exited(self) -> None:
        self.exited.set()
        self.lines.put_nowait(None)

    def taken(self) -> None:
        """The session took a line: read on once the backlog is small again."""
        if self._paused and self.lines.qsize() < _PAUSE_AT // 4:
            self._reading(True)

    def _reading(self, on: bool) -> None:
        pipe = cast(asyncio.ReadTransport | None, self.transport and self.transport.get_pipe_transport(1))
        if pipe is not None:
            pipe.resume_reading() if on else pipe.pause_reading()
            self._paused = not on

    def last_words(self) -> str:
        return " | ".join(self.stderr)


class StdioTransport:
    """`async with StdioTransport(...) as (read, write)`: the SDK's `Transport` for one process."""

    def __init__(
        self,
        command: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_process: Callable[[int | None], Awaitable[None]],
        grace: float,
    ) -> None:
        self.command = command
        self.cwd = cwd
        self.env = dict(env)
        self.on_process = on_process
        self.grace = grace
        self.ended = asyncio.Event()
        self.pid: int | None = None
        self._pipes = _Pipes()
        self._tasks: list[asyncio.Task[None]] = []
        self._streams: list[
            MemoryObjectSendStream[SessionMessage | Exception] | MemoryObjectReceiveStream[SessionMessage]
        ] = []

    def describe_end(self) -> str:
        """Why the connection ended, for a status or a tool error."""
        transport = self._pipes.transport
        code = transport.get_returncode() if transport else None
        if code is None:
            what = "closed its output"
        elif code < 0:
            what = f"was killed by signal {-code}"
        else:
            what = f"exited with status {code}"
        words = self._pipes.last_words()
        return f"the server process {what}" + (f"; its last output on stderr: {words}" if words else "")

    async def end_reason(self) -> str:
        """`describe_end`, once the process has had a moment to be reaped after its output ended."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pipes.exited.wait(), _KILL_WAIT)
        return self.describe_end()

    async def __aenter__(self) -> TransportStreams:
        import anyio

        executable = resolve_command(self.command[0], self.env, self.cwd)
        loop = asyncio.get_running_loop()
        shell = shell_path()
        transport, _ = await loop.subprocess_exec(
            lambda: self._pipes,
            shell,
            "-c",
            _GATE,
            executable,
            *self.command[1:],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(self.cwd),
            env=self.env,
            start_new_session=True,
        )
        self.pid = transport.get_pid()
        stdin = cast(asyncio.WriteTransport, transport.get_pipe_transport(0))
        try:
            await self.on_process(self.pid)
            stdin.write(b"\n")
        except BaseException:
            await self._stop()
            raise
        from mcp.shared.message import SessionMessage

        read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_in, write_out = anyio.create_memory_object_stream[SessionMessage](0)
        self._streams = [read_in, write_out]
        self._tasks = [
            asyncio.create_task(self._read(read_in)),
            asyncio.create_task(self._write(write_out, stdin)),
            asyncio.create_task(self._watch()),
        ]
        return read_out, write_in

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.shield(self._stop())

    async def _read(self, out: MemoryObjectSendStream[SessionMessage | Exception]) -> None:
        import anyio
        import mcp_types
        from mcp.shared.message import SessionMessage

        async with out:
            while (line := await self._pipes.lines.get()) is not None:
                self._pipes.taken()
                item: SessionMessage | Exception
                try:
                    item = SessionMessage(
                        mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                    )
                except ValueError as exc:
                    item = exc
                try:
                    await out.send(item)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return
            self.ended.set()  # before the stream closes: whoever sees it close can ask why

    async def _write(
        self, messages: MemoryObjectReceiveStream[SessionMessage], stdin: asyncio.WriteTransport
    ) -> None:
        async with messages:
            async for message in messages:
                if stdin.is_closing():
                    return
                data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                stdin.write(data.encode() + b"\n")

    async def _watch(self) -> None:
        await self._pipes.exited.wait()
        self.ended.set()

    async def _stop(self) -> None:
        transport = self._pipes.transport
        try:
            for stream in self._streams:
                stream.close()
            if transport is not None and self.pid is not None:
                stdin = transport.get_pipe_transport(0)
                if stdin is not None:
                    stdin.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._pipes.exited.wait(), self.grace)
                signal_group(self.pid, signal.SIGKILL)  # whatever it started goes too
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._pipes.exited.wait(), _KILL_WAIT)
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self.ended.set()
            if transport is not None:
                transport.close()
                self._pipes.lines.put_nowait(None)
            if self.pid is not None:
                await self.on_process(None)
