"""The gate that holds requests for routers still loading.

`wakeful serve` listens before most route modules are imported (importing them defines every route,
and FastAPI analyses each endpoint's parameters as it does: about 0.4 s). Meanwhile only the routes
loaded first (the health check's router) answer; any other request waits at the gate, and is then
routed as if it had arrived once everything was loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send


def endpoints(routers: Iterable[APIRouter]) -> frozenset[tuple[str, str]]:
    """The (method, path) pairs the routers answer. Paths are compared as written: a route with
    path parameters is not early, and its requests wait like any other."""
    found: set[tuple[str, str]] = set()
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                found.update((method, route.path) for method in route.methods or ())
    return frozenset(found)


class RoutesGate:
    """ASGI middleware: until `loaded` is set, an HTTP request for anything but `early` (method and
    path) waits for it. Set, the gate costs one check per request."""

    def __init__(self, app: ASGIApp, loaded: asyncio.Event, early: frozenset[tuple[str, str]]) -> None:
        self.app = app
        self._loaded = loaded
        self._early = early

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine once loaded: a held call keeps no frame of the gate.
        if (
            not self._loaded.is_set()
            and scope["type"] == "http"
            and (scope["method"], scope["path"]) not in self._early
        ):
            return self._after_loading(scope, receive, send)
        return self.app(scope, receive, send)

    async def _after_loading(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._loaded.wait()
        await self.app(scope, receive, send)
