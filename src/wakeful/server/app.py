"""The FastAPI application: routers, error mapping, middleware and the lifespan that owns the state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from wakeful.config import ServerConfig
from wakeful.providers.registry import warm_imports
from wakeful.run.recovery import recover
from wakeful.run.runtime import Runtime
from wakeful.server import errors, openapi
from wakeful.server.middleware import BasicAuth
from wakeful.server.routes import events, mcp, messages, meta, permissions, project, runs, sessions, ui, v2
from wakeful.server.routes import webhooks as webhook_routes
from wakeful.version import __version__

EXPOSED_HEADERS = ["X-Keepalive-Interval", "X-Wakeful-Message-ID", "Retry-After"]


def create_app(config: ServerConfig, state: Runtime | None = None) -> FastAPI:
    state = state or Runtime.build(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.store.open()
        await recover(state.store, state.messages, state.sessions, state.webhooks.run_ended)
        await state.permissions.recover()
        await state.webhooks.start()
        # Import the provider SDKs before listening: importing them later, on the loop, would stall
        # every held call (and delay the first answer's headers) by about a second.
        await asyncio.to_thread(warm_imports)
        try:
            yield
        finally:
            # Normally the signal-driven drain in wakeful.server.serve has already run; this covers
            # embedders that stop the app another way.
            state.runs.stop_accepting()
            await state.permissions.close("the server stopped")
            state.bus.close()
            await state.runs.drain(0, "The server stopped")
            await state.webhooks.close()
            state.tool_pool.close()
            await state.providers.aclose()
            await state.store.close()

    app = FastAPI(
        title="wakeful",
        version=__version__,
        description="opencode-compatible coding-agent server; long calls send keep-alive whitespace",
        openapi_url="/doc",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.wakeful = state
    errors.install(app)
    openapi.install(app)
    for module in (meta, sessions, messages, runs, permissions, events, project, ui, mcp, v2, webhook_routes):
        app.include_router(module.router)
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
            ],
            expose_headers=EXPOSED_HEADERS,
            allow_credentials=True,
        )
    if config.password:
        # Added last so it runs first: a CORS preflight is let through by BasicAuth itself.
        app.add_middleware(BasicAuth, username=config.username, password=config.password)
    return app
