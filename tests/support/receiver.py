"""A webhook receiver on loopback (aiohttp): it records every request and answers what the test
tells it, and tests wait on what it receives.

`Receiver` runs on the test's own event loop (in-process tests); `ThreadedReceiver` runs one on a
loop of its own, for synchronous tests that drive a server process.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from tests.support.inproc import PATIENCE
from tests.support.loopthread import LoopThread

T = TypeVar("T")
RECIPE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "webhook_receiver.py"


def documented_verify() -> Callable[..., bool]:
    """`verify` of docs/examples/webhook_receiver.py: the check the documentation shows receivers."""
    spec = importlib.util.spec_from_file_location("webhook_receiver", RECIPE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    verify: Callable[..., bool] = module.verify
    return verify


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    answered: int

    @property
    def delivery(self) -> str:
        return self.headers["x-wakeful-delivery"]


def free_port() -> int:
    """A loopback port nothing listens on (for now): connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Receiver:
    """Answers each request with the next of `answers`, then with `status` (200 unless changed).
    After `hold()`, a request is recorded in `held` as it arrives, then waits for `release()` (or
    the receiver's stop) before it is answered."""

    def __init__(self, answers: Iterable[int] = ()) -> None:
        self.requests: list[Received] = []  # as answered
        self.held: list[Received] = []  # as they arrived while holding (answered 0)
        self.status = 200
        self._answers = deque(answers)
        self._arrived = asyncio.Condition()
        self._open = asyncio.Event()
        self._open.set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self, port: int = 0) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not self._open.is_set():
            await self._record(self.held, Received(request.path, headers, body, 0))
            await self._open.wait()
        status = self._answers.popleft() if self._answers else self.status
        await self._record(self.requests, Received(request.path, headers, body, status))
        return web.Response(status=status, text="ok" if status < 300 else "no")

    async def _record(self, into: list[Received], received: Received) -> None:
        async with self._arrived:
            into.append(received)
            self._arrived.notify_all()

    async def wait(
        self, predicate: Callable[[Received], bool], patience: float = PATIENCE, *, held: bool = False
    ) -> Received:
        """The first request answered (or, with `held`, held) since the start that matches."""
        async with asyncio.timeout(patience), self._arrived:
            while True:
                found = next((r for r in (self.held if held else self.requests) if predicate(r)), None)
                if found is not None:
                    return found
                await self._arrived.wait()

    async def accepted(self, event: str | None = None) -> Received:
        """The first request answered 2xx (of `event`, if given)."""
        return await self.wait(
            lambda r: 200 <= r.answered < 300 and (event is None or r.headers["x-wakeful-event"] == event)
        )

    def of(self, delivery: str) -> list[Received]:
        return [r for r in self.requests if r.delivery == delivery]


class ThreadedReceiver:
    """A `Receiver` on an event loop in a thread of its own, driven with blocking calls."""

    def __init__(self, answers: Iterable[int] = ()) -> None:
        self._thread = LoopThread("receiver")
        self.receiver: Receiver = self._thread.start(self._make(answers))

    @staticmethod
    async def _make(answers: Iterable[int]) -> Receiver:
        return Receiver(answers)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._thread.call(coroutine, PATIENCE * 3)

    @property
    def url(self) -> str:
        return self.receiver.url

    def set_status(self, status: int) -> None:
        async def change() -> None:
            self.receiver.status = status

        self._call(change())

    def start(self, port: int = 0) -> ThreadedReceiver:
        self._call(self.receiver.start(port))
        return self

    def wait(self, predicate: Callable[[Received], bool], patience: float = PATIENCE) -> Received:
        return self._thread.call(self.receiver.wait(predicate, patience))

    def requests(self) -> list[Received]:
        async def copy() -> list[Received]:
            return list(self.receiver.requests)

        return self._call(copy())

    def close(self) -> None:
        self._thread.stop(self.receiver.stop(), PATIENCE * 3)
