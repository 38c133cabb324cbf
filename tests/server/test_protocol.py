"""A held connection costs less with wakeful's protocol than with uvicorn's, and works the same.

(Its deadlines, over real sockets: tests/server/test_hostile_requests.py.)
"""

from __future__ import annotations

import asyncio
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tests.support.inproc import server_config
from wakeful.server.keepalive import DISCONNECTED
from wakeful.server.protocol import http_protocol


class Transport:
    """What the protocol asks of a connection's transport."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 4096) if name in ("peername", "sockname") else default

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None: ...

    def write(self, data: bytes) -> None: ...


async def _app(scope: Any, receive: Any, send: Any) -> None:
    del scope, receive, send


async def test_a_connection_keeps_its_attributes_in_the_shared_key_form(tmp_path: Path) -> None:
    """Past 30 attributes Python gives an instance a dict of its own (1.6 KiB, not 0.3): the
    deadlines' state must not push uvicorn's protocol over."""
    config = Config(app=_app)
    config.load()
    loop = asyncio.get_running_loop()
    sizes = []
    for cls in (HttpToolsProtocol, http_protocol(server_config(tmp_path, tmp_path))):
        protocol = cls(config, ServerState(), {}, loop)
        protocol.connection_made(Transport())  # type: ignore[arg-type]
        protocol.data_received(b"POST /session/x/message HTTP/1.1\r\nHost: a\r\n")  # arms the head deadline
        sizes.append(sys.getsizeof(protocol.__dict__))
        protocol.connection_lost(None)
    assert sizes[1] <= sizes[0]


HEAD = b"POST /session/x/message HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n"


async def test_a_held_connection_costs_less_than_uvicorns_and_still_reads_its_body(tmp_path: Path) -> None:
    received: list[Any] = []
    hold = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        received.append(await receive())
        await hold.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = Config(app=app)
    config.load()
    loop = asyncio.get_running_loop()

    async def cost(cls: type[HttpToolsProtocol], n: int = 50) -> float:
        kept = []
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(n):
                protocol = cls(config, ServerState(), {}, loop)
                protocol.connection_made(Transport())  # type: ignore[arg-type]
                protocol.data_received(HEAD + b"{}")
                kept.append(protocol)
            await asyncio.sleep(0.01)  # each request's task runs to its hold
            used = (tracemalloc.get_traced_memory()[0] - before) / n
        finally:
            tracemalloc.stop()
        hold.set()
        await asyncio.sleep(0.01)
        for protocol in kept:
            protocol.connection_lost(None)
        hold.clear()
        return used

    uvicorns = await cost(HttpToolsProtocol)
    ours = await cost(http_protocol(server_config(tmp_path, tmp_path)))
    assert received[-1] == {"type": "http.request", "body": b"{}", "more_body": False}
    assert len(received) == 100
    assert ours < uvicorns - 1024  # two deques and a dict of its own are 2 KiB and more


async def test_a_request_learns_from_its_scope_when_its_client_has_gone(tmp_path: Path) -> None:
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = Config(app=app)
    config.load()
    protocol = http_protocol(server_config(tmp_path, tmp_path))(config, ServerState(), {}, asyncio.get_running_loop())
    protocol.connection_made(Transport())  # type: ignore[arg-type]
    protocol.data_received(HEAD + b"{}")
    await asyncio.sleep(0.01)
    protocol.data_received(HEAD + b"{}")  # the next request on the same connection
    await asyncio.sleep(0.01)
    first, second = (scope[DISCONNECTED] for scope in scopes)
    assert first is second and not first.done()
    protocol.connection_lost(None)
    assert first.done()
