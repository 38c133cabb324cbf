"""Auth, bind and CORS rules, on real server processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import WakefulProcess


def test_basic_auth_when_a_password_is_set(tmp_path: Path, project: Path) -> None:
    proc = WakefulProcess(tmp_path / "data", project, env={"OPENCODE_SERVER_PASSWORD": "s3cret"}).start()
    try:
        with httpx.Client(base_url=proc.url) as anonymous:
            refused = anonymous.get("/session")
            assert refused.status_code == 401
            assert refused.json() == {"_tag": "UnauthorizedError", "message": "Authentication required"}
            assert refused.headers["www-authenticate"].startswith("Basic")
            assert anonymous.get("/session", auth=("opencode", "wrong")).status_code == 401
            assert anonymous.get("/session", auth=("someone", "s3cret")).status_code == 401
            assert anonymous.get("/session", auth=("opencode", "s3cret")).status_code == 200
            assert anonymous.post("/session", json={}).status_code == 401
    finally:
        proc.stop()


def test_custom_username_and_wakeful_password(tmp_path: Path, project: Path) -> None:
    env = {"WAKEFUL_SERVER_PASSWORD": "pw", "OPENCODE_SERVER_USERNAME": "robot"}
    proc = WakefulProcess(tmp_path / "data", project, env=env).start()
    try:
        with httpx.Client(base_url=proc.url) as client:
            assert client.get("/global/health", auth=("robot", "pw")).status_code == 200
            assert client.get("/global/health", auth=("opencode", "pw")).status_code == 401
    finally:
        proc.stop()


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


def test_no_cors_by_default(http: httpx.Client) -> None:
    preflight = http.options(
        "/session", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    plain = http.get("/session", headers={"Origin": "https://app.example"})
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
