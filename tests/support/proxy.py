"""A TCP proxy on loopback that tests can tell to break connections.

`cut()` aborts every open connection (both sides: the client sees a reset mid-body, the server a
disconnect); `stall()` makes every open connection go silent without closing it (the client must
notice the silence by itself). Connections opened afterwards work normally. Runs on its own event
loop in a daemon thread, like `FakeLLMThread`, so sync and async tests can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.support.loopthread import LoopThread


@dataclass(eq=False)
class _Pair:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    stalled: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            writer.transport.abort()


class Proxy:
    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.url = ""
        self.accepted = 0  # connections accepted so far
        self._pairs: set[_Pair] = set()
        self._thread = LoopThread("proxy")
        self._server: asyncio.Server | None = None
        self._changed: asyncio.Condition | None = None

    # --- lifecycle (from the test's thread) -------------------------------------------------

    def start(self) -> Proxy:
        self._thread.start(self._start())
        return self

    def stop(self) -> None:
        self._thread.stop(self._stop())

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control ----------------------------------------------------------------------------

    def cut(self) -> int:
        """Abort every open connection; returns how many there were."""
        return self._thread.run(self._cut, 10)

    def stall(self) -> int:
        """Stop forwarding on every open connection (without closing it)."""
        return self._thread.run(self._stall, 10)

    @property
    def open_connections(self) -> int:
        return self._thread.run(lambda: len(self._pairs), 10)

    def wait_for_accepted(self, count: int, timeout: float = 10.0) -> None:
        """Block until `count` connections have been accepted in total."""
        self._thread.call(self._until(lambda: self.accepted >= count), timeout)

    async def wait_for_accepted_async(self, count: int, timeout: float = 10.0) -> None:
        """For async tests: waits without blocking the caller's loop (which the client needs)."""
        await asyncio.wait_for(self._thread.wait(self._until(lambda: self.accepted >= count)), timeout)

    # --- inside the loop --------------------------------------------------------------------

    async def _start(self) -> None:
        self._changed = asyncio.Condition()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        self._cut()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._until(lambda: not self._pairs)  # let the handlers finish
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _cut(self) -> int:
        pairs = list(self._pairs)
        for pair in pairs:
            pair.abort()
        return len(pairs)

    def _stall(self) -> int:
        for pair in self._pairs:
            pair.stalled = True
        return len(self._pairs)

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _until(self, done: Callable[[], bool]) -> None:
        assert self._changed is not None
        async with self._changed:
            await self._changed.wait_for(done)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = _Pair(writer, up_writer)
        self._pairs.add(pair)
        self.accepted += 1
        await self._notify()
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, pair)),
            asyncio.create_task(self._pump(up_reader, writer, pair)),
        ]
        # When one direction ends (EOF or cut), the connection is over in both.
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        pair.abort()
        self._pairs.discard(pair)
        await self._notify()

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, pair: _Pair) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await source.read(65536):
                if pair.stalled:
                    continue  # swallowed: the other side hears nothing, and nothing is closed
                sink.write(data)
                await sink.drain()
