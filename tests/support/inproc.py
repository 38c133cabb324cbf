"""wakeful in the test's own process: a Runtime on a MemoryStore (or SQLite), and the FastAPI app
driven through httpx.ASGITransport, with no socket and no server process.

Tests wait on what the runtime publishes (`EventLog` over its bus) and on the scripted model's gates
(`await model.held(key)`), never on clocks. ASGITransport hands back a response once it is complete,
which suits answers; keep-alive bytes, disconnects, timeouts, signals and real clients are tested
against a server process (tests/support/server.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.http import prompt_body
from tests.support.server import isolated_environ
from wakeful.config import ServerConfig
from wakeful.providers.scripted import ScriptedProvider
from wakeful.run.manager import Reply, RunHandle, RunRequest
from wakeful.run.prompt import build_run
from wakeful.run.runtime import Runtime
from wakeful.server.app import build_routes, create_app, routers
from wakeful.storage.base import Store
from wakeful.storage.memory import MemoryStore
from wakeful.wire.bodies import PromptBody
from wakeful.wire.sessions import Session, SessionCreate

# The route modules load with this module, not on the loop of the first test that makes an app
# (`wakeful serve` loads them in a thread; create_app(routes_at_start=True) where it is called).
routers()

Json = dict[str, Any]
# How long a wait on an event may take before the test fails instead of hanging: a guard against a
# bug, never a bound that a passing test comes near.
PATIENCE = 10.0


def server_config(
    data_dir: Path, project: Path, *, env: dict[str, str] | None = None, **flags: Any
) -> ServerConfig:
    """The config of a test server (tests/support/server.py's environment and timings, plus `env`)
    for `project`; `flags` win, as command-line flags do."""
    environ = {**isolated_environ(data_dir / "home"), **(env or {})}
    return ServerConfig.build(environ, data_dir=data_dir, project_dir=project, **flags)


# --- the run layer alone --------------------------------------------------------------------------


@asynccontextmanager
async def open_runtime(config: ServerConfig, store: Store | None = None) -> AsyncIterator[Runtime]:
    """A Runtime on `store` (a fresh MemoryStore by default), closed as the server's lifespan closes
    it: runs still going are aborted and their errors stored."""
    runtime = Runtime.build(config, store=store or MemoryStore())
    await runtime.open()
    try:
        yield runtime
    finally:
        await runtime.close("The test ended")


def scripted(runtime: Runtime, provider_id: str = "mock", directory: Path | None = None) -> ScriptedProvider:
    """The scripted model the runs of `directory` (the project by default) get for `provider_id`
    (one per provider config)."""
    catalog = runtime.catalog(directory or runtime.config.project_dir)
    entry = catalog.providers[provider_id]
    model = runtime.provider(catalog.resolve(provider_id, next(iter(entry.models), "any")))
    assert isinstance(model, ScriptedProvider), f"provider {provider_id} is not the scripted model"
    return model


async def new_session(runtime: Runtime, **body: Any) -> Session:
    return await runtime.sessions.create(runtime.config.project_dir, SessionCreate.model_validate(body))


def prompt_run(
    runtime: Runtime, session: Session, text: str, *, deadline: float | None = None, **body: Any
) -> RunRequest:
    """The run of a prompt `text` (plus body fields), built as `POST /session/{id}/message` builds it."""
    prompt = PromptBody.model_validate(prompt_body(text, **body))
    return build_run(runtime, session, runtime.config.project_dir, prompt, deadline=deadline)


async def submit(runtime: Runtime, run: RunRequest) -> RunHandle:
    """Submit a run that must be new (not attached, not answered from storage)."""
    handle = await runtime.runs.submit(run)
    assert isinstance(handle, RunHandle), handle
    return handle


async def answer(handle: RunHandle) -> Reply:
    async with asyncio.timeout(PATIENCE):
        return await handle.wait()


# --- events ---------------------------------------------------------------------------------------


class EventLog:
    """Every event the bus publishes from now on, as the wire carries it (`{id, type, properties}`).

    Reads are in step with publishing: `of` sees every event published before it was called, and
    `wait` returns as soon as a matching event is published."""

    def __init__(self, runtime: Runtime) -> None:
        self._sub = runtime.bus.subscribe()
        self.events: list[Json] = []

    async def _take(self, block: bool) -> None:
        try:
            if block:
                event = await self._sub.next()
                if event is not None:
                    self.events.append(event.wire())
            while len(self._sub):
                event = await self._sub.next()
                if event is not None:
                    self.events.append(event.wire())
        except StopAsyncIteration:
            raise AssertionError("the event bus closed, or this log fell too far behind") from None

    async def of(self, type_: str, session_id: str | None = None) -> list[Json]:
        await self._take(block=False)
        return [
            e
            for e in self.events
            if e["type"] == type_ and (session_id is None or e["properties"].get("sessionID") == session_id)
        ]

    async def wait(self, predicate: Callable[[Json], bool]) -> Json:
        """The first event, published since the log opened, that matches."""
        seen = 0
        await self._take(block=False)
        async with asyncio.timeout(PATIENCE):
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                await self._take(block=True)

    async def wait_type(self, type_: str, session_id: str) -> Json:
        return await self.wait(
            lambda e: e["type"] == type_ and e["properties"].get("sessionID") == session_id
        )

    async def wait_tool(self, session_id: str, tool_name: str, status: str) -> Json:
        """The tool part, once an update puts a call of `tool_name` in `status`."""

        def match(e: Json) -> bool:
            if e["type"] != "message.part.updated":
                return False
            part = e["properties"]["part"]
            return bool(
                part["sessionID"] == session_id
                and part["type"] == "tool"
                and part["tool"] == tool_name
                and part["state"]["status"] == status
            )

        part: Json = (await self.wait(match))["properties"]["part"]
        return part


# --- the app --------------------------------------------------------------------------------------


@dataclass
class InProcess:
    """The app with its lifespan entered, and a client for it."""

    runtime: Runtime
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def project(self) -> Path:
        return self.runtime.config.project_dir

    def model(self, provider_id: str = "mock") -> ScriptedProvider:
        return scripted(self.runtime, provider_id)

    def events(self) -> EventLog:
        return EventLog(self.runtime)


async def app_without_lifespan(config: ServerConfig) -> FastAPI:
    """`create_app(config)` with its routes built in a thread, as the lifespan would: for tests of
    what answers before any route touches the store. Built on the loop by a first request, the
    routes would stall it."""
    app = create_app(config)
    await asyncio.to_thread(build_routes, app)
    return app


@asynccontextmanager
async def running(config: ServerConfig, store: Store | None = None) -> AsyncIterator[InProcess]:
    """`create_app(config, runtime)` on a Runtime over `store` (a fresh MemoryStore by default)."""
    runtime = Runtime.build(config, store=store or MemoryStore())
    app = create_app(config, runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wakeful") as client:
            yield InProcess(runtime, app, client)


# --- HTTP, as tests/support/http.py does it over a socket -----------------------------------------


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def create_session(client: httpx.AsyncClient, **body: Any) -> str:
    sid: str = ok(await client.post("/session", json=body))["id"]
    return sid


async def prompt(client: httpx.AsyncClient, sid: str, text: str, **extra: Any) -> Json:
    """POST /session/{sid}/message and return the reply (`{info, parts}`)."""
    reply: Json = ok(await client.post(f"/session/{sid}/message", json=prompt_body(text, **extra)))
    return reply


async def messages(client: httpx.AsyncClient, sid: str) -> list[Json]:
    out: list[Json] = ok(await client.get(f"/session/{sid}/message"))
    return out


async def wait_idle(client: httpx.AsyncClient, sid: str) -> None:
    ok(await client.get(f"/session/{sid}/wait"))
