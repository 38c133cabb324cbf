"""The Host allow-list in process: what a Host header names, where the names come from, and that a
password lifts it. (Against DNS rebinding over a socket: tests/server/test_hostile_requests.py.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from wakeful.config import ServerConfig
from wakeful.server.app import create_app
from wakeful.server.middleware import host_name


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
    transport = httpx.ASGITransport(app=create_app(config))
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
