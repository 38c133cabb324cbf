"""The listening socket `wakeful serve` binds: connections accepted from it send small writes at once."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from tests.support.inproc import server_config
from wakeful.server.serve import bind


async def test_connections_accepted_from_the_servers_socket_have_nagle_off(tmp_path: Path) -> None:
    # Without TCP_NODELAY a keep-alive newline or a small answer waits for the client's delayed
    # acknowledgement of the previous write (tens of milliseconds per prompt).
    config = server_config(tmp_path / "data", tmp_path, env={}, port=0)
    listening = bind(config)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Report(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server = await asyncio.get_running_loop().create_server(Report, sock=listening)
    _, writer = await asyncio.open_connection("127.0.0.1", listening.getsockname()[1])
    try:
        assert await asyncio.wait_for(accepted, 10) == 1
    finally:
        writer.close()
        server.close()
        await server.wait_closed()
