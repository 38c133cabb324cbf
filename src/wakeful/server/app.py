"""The FastAPI application: routers, error mapping, middleware and the lifespan that owns the state."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware

from wakeful.config import ServerConfig
from wakeful.run.runtime import Runtime
from wakeful.server import errors, openapi
from wakeful.server.access import HEADER as REQUEST_ID_HEADER
from wakeful.server.access import RequestTelemetry
from wakeful.server.gate import RoutesGate, endpoints
from wakeful.server.limits import BodyLimit
from wakeful.server.middleware import AllowedHosts, BasicAuth
from wakeful.server.routes import meta
from wakeful.server.routing import FastRoutes, fast_routes
from wakeful.version import __version__

EXPOSED_HEADERS = ["X-Keepalive-Interval", "X-Wakeful-Message-ID", "Retry-After", REQUEST_ID_HEADER]


# Modules that requests would otherwise import on the event loop, loaded with the route modules:
# httpx (with rich and pygments, which its command line pulls in: 0.1 s) parses a `?callback=`.
LATER = ("httpx",)


def routers() -> tuple[APIRouter, ...]:
    """Every router, in the order requests are matched: the prompt routes first, so a burst of
    prompts is matched at once. The first call imports the route modules (FastAPI analyses each
    endpoint as it is defined: about 0.4 s) and `LATER`, which `wakeful serve` does in a thread once
    it listens."""
    for name in LATER:
        importlib.import_module(name)
    from wakeful.server.routes import (
        events,
        mcp,
        messages,
        ops,
        permissions,
        project,
        runs,
        sessions,
        tools,
        ui,
        v2,
        webhooks,
    )

    modules = (runs, meta, ops, sessions, messages, permissions, events, project, ui, mcp, v2, tools, webhooks)
    return tuple(module.router for module in modules)


def build_routes(app: FastAPI) -> None:
    """FastAPI builds a router's routes (their parameter and body models) when a request first
    reaches them; a request-shaped match of every route builds them all now."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }
    for route in app.router.routes:
        route.matches(scope)


def create_app(
    config: ServerConfig, state: Runtime | None = None, *, routes_at_start: bool = True
) -> FastAPI:
    """The app; its lifespan opens and closes `state`. FastAPI builds every route's models in a
    thread at start: left to the first requests, on the loop, that would stall every held call
    (and delay the first answer's headers) by 0.1 to 0.3 s. The lifespan waits for them. With
    `routes_at_start` false it does not (`app.state.routes_built` is then the loading, which the
    server awaits once it listens): only the health check's router is included at first, the other
    route modules are imported in a thread, and a request for one of them waits for them
    (`RoutesGate`); then the routes build, and a request meanwhile waits only for its own router,
    which FastAPI builds under a lock. The provider SDKs load in a thread when a run first needs
    one (ProviderPool.imported)."""
    state = state or Runtime.build(config)
    loaded = asyncio.Event()

    async def load_routes(app: FastAPI) -> None:
        if not routes_at_start:
            try:
                later = await asyncio.to_thread(routers)
                del app.router.routes[first_router:]  # the early router, included again in its place
                for router in later:
                    include(router)
            finally:
                loaded.set()  # even if an import failed: the waiting requests get a 404, not a hang
        await asyncio.to_thread(build_routes, app)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.open()
        app.state.routes_built = built = asyncio.ensure_future(load_routes(app))
        if routes_at_start:
            await built
        try:
            yield
        finally:
            await built
            # Normally the signal-driven drain in wakeful.server.serve has already run; this covers
            # embedders that stop the app another way.
            await state.close("The server stopped")

    app = FastAPI(
        title="wakeful",
        version=__version__,
        description="opencode-compatible coding-agent server; long calls send keep-alive whitespace",
        openapi_url=None,  # `/doc` is openapi.install's
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # wakeful's own RequestTelemetry makes each request's span and metrics; FastAPI's would be
        # a second set whenever global OpenTelemetry providers exist, and is checked per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.wakeful = state
    errors.install(app)
    openapi.install(app)
    first_router = len(app.router.routes)
    held: list[APIRoute] = []

    def include(router: APIRouter) -> None:
        app.include_router(router)
        held.extend(fast_routes(router))

    if routes_at_start:
        for router in routers():
            include(router)
    else:
        include(meta.router)
    app.add_middleware(FastRoutes, routes=held)  # innermost: past the gate, auth and limits
    if not routes_at_start:
        app.add_middleware(RoutesGate, loaded=loaded, early=endpoints([meta.router]))
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["*"],
            allow_headers=[
                "*",
                "x-opencode-directory",
                "X-Keepalive-Interval",
                "Authorization",
                "Last-Event-ID",
                REQUEST_ID_HEADER,
                "traceparent",
                "tracestate",
            ],
            expose_headers=EXPOSED_HEADERS,
            allow_credentials=True,
        )
    # Each add_middleware wraps the app built so far, so a request meets them in reverse order:
    # the Host check, the body limit, Basic auth (a CORS preflight is let through by BasicAuth
    # itself), CORS, the gate, the fast paths, then the routes.
    if config.password:
        app.add_middleware(BasicAuth, username=config.username, password=config.password)
    app.add_middleware(BodyLimit, max_bytes=config.body_max_bytes, drain_seconds=config.body_timeout)
    if not config.password:
        app.add_middleware(AllowedHosts, names=config.allowed_hosts, bound=config.hostname)
    # Outermost: refused requests get a request id and an access-log line too.
    app.add_middleware(RequestTelemetry, metrics=state.metrics, access_log=config.access_log)
    return app
