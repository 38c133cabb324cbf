"""`wakeful.AsyncClient`: the same plans as `Client`, driven by asyncio; the same guarantees."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.client.conftest import unique
from tests.support.fakellm import FakeLLMThread
from tests.support.proxy import Proxy
from tests.support.server import WakefulProcess
from wakeful.client import AsyncClient, Event, NotFound, RunFailed, ServerError, SessionBusy


async def test_a_long_run_with_an_async_keepalive_callback(server: WakefulProcess) -> None:
    ticks: list[float] = []

    async def heartbeat() -> None:
        ticks.append(time.monotonic())

    async with AsyncClient(server.url) as client:
        session = await client.create_session()
        reply = await client.prompt(session.id, "DELAY 2\nREPLY async and steady", on_keepalive=heartbeat)
    assert reply.text == "async and steady"
    assert len(ticks) >= 5 and ticks[-1] - ticks[0] >= 1.2


async def test_a_cut_connection_is_retried_to_the_same_answer(server: WakefulProcess, llm: FakeLLMThread) -> None:
    key = unique()
    script = f"HOLD {key}\nREPLY async survived"
    with Proxy(server.url) as proxy:
        async with AsyncClient(proxy.url, backoff=0.05) as client:
            session = await client.create_session()
            running = asyncio.create_task(client.prompt(session.id, script))
            await llm.wait_for_hold_async(key)
            before = proxy.accepted
            assert proxy.cut() >= 1
            await proxy.wait_for_accepted_async(before + 1)
            llm.release(key)
            assert (await asyncio.wait_for(running, 10)).text == "async survived"
    assert llm.count(script) == 1


async def test_events_survive_a_cut_without_repeats(server: WakefulProcess) -> None:
    titles = [unique("aev") for _ in range(3)]
    seen: list[Event] = []
    with Proxy(server.url) as proxy:
        async with AsyncClient(proxy.url, backoff=0.05) as client, httpx.AsyncClient(base_url=server.url) as direct:
            async for item in client.events(control=True):
                assert isinstance(item, Event)
                seen.append(item)
                title = item.properties.get("info", {}).get("title")
                if item.type == "server.connected" and len(seen) == 1:
                    await direct.post("/session", json={"title": titles[0]})
                elif item.type == "session.created" and title == titles[0]:
                    proxy.cut()
                    await direct.post("/session", json={"title": titles[1]})
                    await direct.post("/session", json={"title": titles[2]})
                elif item.type == "session.created" and title == titles[2]:
                    break
    replayable = [e.id for e in seen if e.replayable]
    assert len(replayable) == len(set(replayable))
    created = [e.properties["info"]["title"] for e in seen if e.type == "session.created"]
    assert [t for t in created if t in titles] == titles


async def test_errors_map_to_exceptions(server: WakefulProcess, llm: FakeLLMThread) -> None:
    async with AsyncClient(server.url) as client:
        with pytest.raises(NotFound):
            await client.get_session("ses_doesnotexist")
        session = await client.create_session()
        with pytest.raises(RunFailed) as failed:
            await client.prompt(session.id, "ERROR 401")
        assert failed.value.name in ("ProviderAuthError", "APIError")
        key = unique()
        await client.prompt_async(session.id, f"HOLD {key}")
        await llm.wait_for_hold_async(key)
        with pytest.raises(SessionBusy):
            await client.shell(session.id, "true")
        llm.release(key)
        await client.wait(session.id)


async def test_the_in_body_error_object_is_a_server_error() -> None:
    """The last-resort body of a long call (the server failed after it answered 200): no real
    server produces it on demand, so a mock transport plays the server."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = b'\n\n{"name":"UnknownError","data":{"message":"the database went away"}}'
        return httpx.Response(200, headers={"X-Keepalive-Interval": "0.2"}, content=body)

    async with AsyncClient("http://wakeful.test", transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ServerError) as caught:
            await client.prompt("ses_x", "hello")
    assert caught.value.name == "UnknownError" and "database went away" in str(caught.value)


async def test_a_silent_connection_is_noticed_and_retried(server: WakefulProcess, llm: FakeLLMThread) -> None:
    key = unique()
    script = f"HOLD {key}\nREPLY async heard again"
    with Proxy(server.url) as proxy:
        async with AsyncClient(proxy.url, backoff=0.05) as client:
            session = await client.create_session()
            running = asyncio.create_task(client.prompt(session.id, script))
            await llm.wait_for_hold_async(key)
            before = proxy.accepted
            stalled = time.monotonic()
            proxy.stall()
            await proxy.wait_for_accepted_async(before + 1)
            assert 0.4 < time.monotonic() - stalled < 3.0
            llm.release(key)
            assert (await asyncio.wait_for(running, 10)).text == "async heard again"
    assert llm.count(script) == 1
