"""An HTTP proxy on loopback that records each request it forwards: method, path and status.

Put between a real client and a wakeful server, it shows what the client asked for and what it got
(`GET /global/event 200`, or a 404 for a route the client needs and wakeful does not serve).
Bodies stream through unchanged, event streams included. Runs on its own event loop in a daemon
thread, like `FakeLLMThread`.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from tests.support.loopthread import LoopThread

# Hop-by-hop headers, and the framing aiohttp redoes itself.
_DROPPED = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # without the query
    status: int


class Recorder:
    def __init__(self, target_url: str) -> None:
        self.target = target_url.rstrip("/")
        self.url = ""
        self.exchanges: list[Exchange] = []
        self._thread = LoopThread("recorder")
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> Recorder:
        self._thread.start(self._start())
        return self

    def stop(self) -> None:
        self._thread.stop(self._stop())

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False
        )
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        async with self._session.request(
            request.method,
            self.target + request.raw_path,
            headers=headers,
            data=await request.read(),
        ) as upstream:
            self.exchanges.append(Exchange(request.method, request.path, upstream.status))
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED},
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
