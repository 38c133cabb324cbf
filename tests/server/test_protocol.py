"""The protocol's own state costs a held connection no more than uvicorn's does.

(Its deadlines, over real sockets: tests/server/test_hostile_requests.py.)
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tests.support.inproc import server_config
from wakeful.server.protocol import http_protocol


class Transport:
    """What the protocol asks of a connection's transport before a request is complete."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 4096) if name in ("peername", "sockname") else default

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None: ...


async def _app(scope: Any, receive: Any, send: Any) -> None:
    del scope, receive, send


async def test_a_connection_keeps_its_attributes_in_the_shared_key_form(tmp_path: Any) -> None:
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
