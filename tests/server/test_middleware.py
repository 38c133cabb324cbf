"""The Host allow-list in process: what a Host header names, where the names come from, and that a
password lifts it. (Against DNS rebinding over a socket: tests/server/test_hostile_requests.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.inproc import app_without_lifespan
from wakeful.config import ServerConfig
from wakeful.server.gate import RoutesGate
from wakeful.server.limits import BodyLimit
from wakeful.server.middleware import AllowedHosts, BasicAuth, host_name


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("localhost", "localhost"),
        ("LocalHost.:4096", "localhost"),
        ("127.0.0.1:80", "127.0.0.1"),
        ("[::1]:4096", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("Example.COM", "example.com"),
    ],
)
def test_host_name(host: str, name: str) -> None:
    assert host_name(host) == name


def test_allowed_hosts_come_from_the_environment_and_flags_win(tmp_path: Path) -> None:
    env = {"WAKEFUL_ALLOWED_HOSTS": "a.example, b.example,"}
    assert ServerConfig.build(env, data_dir=tmp_path).allowed_hosts == ("a.example", "b.example")
    flagged = ServerConfig.build(env, data_dir=tmp_path, allowed_hosts=("c.example",))
    assert flagged.allowed_hosts == ("c.example",)


async def status_for(config: ServerConfig, host: str, auth: tuple[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=await app_without_lifespan(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", auth=auth) as client:
        response = await client.get("/global/health", headers={"Host": host})
        return response.status_code


async def test_names_bound_and_given_are_accepted_others_refused(tmp_path: Path) -> None:
    config = ServerConfig.build(
        env={}, data_dir=tmp_path, hostname="wakeful.lan", allowed_hosts=("ci.example",)
    )
    assert await status_for(config, "wakeful.lan:4096") == 200
    assert await status_for(config, "ci.example") == 200
    assert await status_for(config, "127.0.0.2") == 200
    assert await status_for(config, "rebound.example") == 400


async def test_with_a_password_any_host_is_accepted(tmp_path: Path) -> None:
    config = ServerConfig.build(env={"WAKEFUL_SERVER_PASSWORD": "pw"}, data_dir=tmp_path)
    assert await status_for(config, "rebound.example") == 401
    assert await status_for(config, "rebound.example", auth=("opencode", "pw")) == 200


@pytest.mark.parametrize(
    "wrap",
    [
        lambda app: AllowedHosts(app, names=(), bound="127.0.0.1"),
        lambda app: BasicAuth(app, username="opencode", password="pw"),
        lambda app: BodyLimit(app, max_bytes=100, drain_seconds=1),
        lambda app: RoutesGate(app, loaded=_set(asyncio.Event()), early=frozenset()),
    ],
)
def test_a_request_let_through_is_the_apps_own_call(wrap: Any) -> None:
    """No frame of the middleware stays for as long as a call is held: what it returns is what the
    app returned."""
    returned: list[object] = []

    def app(scope: Any, receive: Any, send: Any) -> Any:
        returned.append(object())
        return returned[-1]

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/session/x/message",
        "headers": [(b"host", b"localhost"), (b"authorization", b"Basic b3BlbmNvZGU6cHc=")],
    }
    assert wrap(app)(scope, None, None) is returned[0]


def _set(event: asyncio.Event) -> asyncio.Event:
    event.set()
    return event
