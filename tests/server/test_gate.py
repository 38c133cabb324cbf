"""A server that listens before its route modules are loaded: the health check answers, any other
request waits for the routes, and the routes end up as a server that loaded them first has them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

import wakeful.server.app as app_module
from tests.support.inproc import server_config
from wakeful.run.runtime import Runtime
from wakeful.server.app import create_app
from wakeful.server.gate import endpoints
from wakeful.server.routes import meta
from wakeful.storage.memory import MemoryStore


def test_the_early_endpoints_are_the_health_routers_own_methods_and_paths() -> None:
    early = endpoints([meta.router])
    assert ("GET", "/global/health") in early
    assert ("GET", "/config") in early
    assert ("PATCH", "/config") not in early  # another router's: it waits like the rest


def route_order(app: FastAPI) -> list[object]:
    return [getattr(route, "original_router", getattr(route, "path", None)) for route in app.router.routes]


async def test_a_request_for_a_route_still_loading_waits_for_it_and_the_health_check_does_not(
    tmp_path: Path, app_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = server_config(tmp_path / "data", app_project)
    release = threading.Event()
    real = app_module.routers

    def slow_routers() -> tuple[APIRouter, ...]:
        release.wait(30)
        return real()

    monkeypatch.setattr(app_module, "routers", slow_routers)
    app = create_app(config, Runtime.build(config, store=MemoryStore()), routes_at_start=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wakeful") as client:
            created = asyncio.create_task(client.post("/session", json={}))
            for _ in range(2):
                assert (await client.get("/global/health")).json()["healthy"] is True
            assert not created.done()
            release.set()
            assert (await created).status_code == 200
            await app.state.routes_built
    eager = create_app(config, Runtime.build(config, store=MemoryStore()))
    assert route_order(app) == route_order(eager)
