"""Auth and CORS rules, and which address a server binds. In-process where the rule is the app's
and its config comes from the environment, as a server's does; on server processes for the
command line's flags and for binding."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.support.inproc import running, server_config
from tests.support.server import WakefulProcess


@asynccontextmanager
async def app_client(
    tmp_path: Path, project: Path, env: dict[str, str], **flags: object
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app configured with `env` and `flags`, as `wakeful serve` would be."""
    async with running(server_config(tmp_path / "data", project, env=env, **flags)) as app:
        yield app.client


async def test_basic_auth_when_a_password_is_set(tmp_path: Path, app_project: Path) -> None:
    async with app_client(tmp_path, app_project, {"OPENCODE_SERVER_PASSWORD": "s3cret"}) as anonymous:
        refused = await anonymous.get("/session")
        assert refused.status_code == 401
        assert refused.json() == {"_tag": "UnauthorizedError", "message": "Authentication required"}
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert (await anonymous.get("/session", auth=("opencode", "wrong"))).status_code == 401
        assert (await anonymous.get("/session", auth=("someone", "s3cret"))).status_code == 401
        assert (await anonymous.get("/session", auth=("opencode", "s3cret"))).status_code == 200
        assert (await anonymous.post("/session", json={})).status_code == 401


async def test_custom_username_and_wakeful_password(tmp_path: Path, app_project: Path) -> None:
    env = {"WAKEFUL_SERVER_PASSWORD": "pw", "OPENCODE_SERVER_USERNAME": "robot"}
    async with app_client(tmp_path, app_project, env) as client:
        assert (await client.get("/global/health", auth=("robot", "pw"))).status_code == 200
        assert (await client.get("/global/health", auth=("opencode", "pw"))).status_code == 401


def test_refuses_a_public_address_without_a_password(tmp_path: Path, project: Path) -> None:
    proc = WakefulProcess(tmp_path / "data", project, args=["--hostname", "0.0.0.0"])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wakeful",
            "serve",
            "--hostname",
            "0.0.0.0",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        cwd=project,
        env=proc.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a password" in result.stderr
    assert not (tmp_path / "d" / "wakeful.db").exists()


def test_insecure_allows_a_public_address(tmp_path: Path, project: Path) -> None:
    proc = WakefulProcess(tmp_path / "data", project, args=["--hostname", "0.0.0.0", "--insecure"]).start()
    try:
        port = proc.url.rsplit(":", 1)[1]
        assert proc.url.startswith("http://0.0.0.0:")
        assert httpx.get(f"http://127.0.0.1:{port}/global/health").status_code == 200
    finally:
        proc.stop()


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/session", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    plain = await client.get("/session", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in plain.headers


def test_cors_when_an_origin_is_given(tmp_path: Path, project: Path) -> None:
    env = {"OPENCODE_SERVER_PASSWORD": "pw"}
    proc = WakefulProcess(tmp_path / "data", project, env=env, args=["--cors", "https://app.example"]).start()
    try:
        with httpx.Client(base_url=proc.url) as client:
            preflight = client.options(
                "/session",
                headers={
                    "Origin": "https://app.example",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "x-opencode-directory, x-keepalive-interval, authorization",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "https://app.example"
            allowed = preflight.headers["access-control-allow-headers"].lower()
            assert "x-opencode-directory" in allowed and "x-keepalive-interval" in allowed
            other = client.options(
                "/session",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            )
            assert other.headers.get("access-control-allow-origin") != "https://evil.example"
            real = client.get("/session", headers={"Origin": "https://app.example"}, auth=("opencode", "pw"))
            assert real.headers["access-control-allow-origin"] == "https://app.example"
            assert "x-keepalive-interval" in real.headers["access-control-expose-headers"].lower()
    finally:
        proc.stop()
