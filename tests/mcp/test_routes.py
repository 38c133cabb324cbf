"""The MCP routes (in-process app): `GET /mcp` reports connected, failed (a bad command, a bad entry)
and disabled; `POST /mcp` adds a server; connect and disconnect; `GET /experimental/resource`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.mcp_server import Served, serve_http
from tests.mcp.support import SERVER
from tests.support.inproc import InProcess, ok
from tests.support.server import SCRIPTED, write_project_config


@pytest.fixture(scope="module")
def remote() -> Iterator[tuple[str, Served]]:
    with serve_http() as served:
        yield served


def configure(project: Path, **servers: Any) -> None:
    write_project_config(project, SCRIPTED, mcp=servers)


async def test_status_reports_connected_failed_and_disabled(
    remote: tuple[str, Served], wakeful: InProcess
) -> None:
    url, _ = remote
    configure(
        wakeful.project,
        ops={"type": "remote", "url": url},
        broken={"type": "local", "command": ["/nonexistent/mcp-server", "--stdio"]},
        off={"type": "local", "command": ["/nonexistent/mcp-server"], "enabled": False},
        bad={"type": "local"},
    )
    status = ok(await wakeful.client.get("/mcp"))
    assert status["ops"] == {"status": "connected"}
    assert status["broken"]["status"] == "failed"
    assert "/nonexistent/mcp-server: not an executable file" in status["broken"]["error"]
    assert status["off"] == {"status": "disabled"}
    assert status["bad"]["status"] == "failed" and "invalid config mcp.bad" in status["bad"]["error"]
    assert list(status) == ["ops", "broken", "off", "bad"]


async def test_a_project_without_servers_answers_empty_maps(wakeful: InProcess) -> None:
    assert ok(await wakeful.client.get("/mcp")) == {}
    assert ok(await wakeful.client.get("/experimental/resource")) == {}


async def test_add_disconnect_and_connect(remote: tuple[str, Served], wakeful: InProcess) -> None:
    url, _ = remote
    added = ok(
        await wakeful.client.post("/mcp", json={"name": "ops", "config": {"type": "remote", "url": url}})
    )
    assert added == {"ops": {"status": "connected"}}
    assert ok(await wakeful.client.post("/mcp/ops/disconnect")) is True
    assert ok(await wakeful.client.get("/mcp")) == {"ops": {"status": "disabled"}}
    assert ok(await wakeful.client.post("/mcp/ops/connect")) is True
    assert ok(await wakeful.client.get("/mcp")) == {"ops": {"status": "connected"}}


async def test_connect_turns_on_a_server_its_entry_disables(
    remote: tuple[str, Served], wakeful: InProcess
) -> None:
    url, _ = remote
    configure(wakeful.project, ops={"type": "remote", "url": url, "enabled": False})
    assert ok(await wakeful.client.get("/mcp")) == {"ops": {"status": "disabled"}}
    assert ok(await wakeful.client.post("/mcp/ops/connect")) is True
    assert ok(await wakeful.client.get("/mcp")) == {"ops": {"status": "connected"}}


async def test_connect_retries_a_failed_server_at_once(wakeful: InProcess, tmp_path: Path) -> None:
    launcher = tmp_path / "k8s-mcp"
    configure(wakeful.project, k8s={"type": "local", "command": [str(launcher)]})
    status = ok(await wakeful.client.get("/mcp"))
    assert status["k8s"]["status"] == "failed" and "reconnecting in" in status["k8s"]["error"]
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {SERVER}\n")
    launcher.chmod(0o755)
    assert ok(await wakeful.client.post("/mcp/k8s/connect")) is True  # not after the backoff
    assert ok(await wakeful.client.get("/mcp")) == {"k8s": {"status": "connected"}}


async def test_an_unknown_server_is_404(wakeful: InProcess) -> None:
    for action in ("connect", "disconnect"):
        response = await wakeful.client.post(f"/mcp/nothing/{action}")
        assert response.status_code == 404
        assert response.json() == {
            "_tag": "McpServerNotFoundError",
            "name": "nothing",
            "message": "MCP server not found: nothing",
        }


async def test_a_bad_add_body_is_400(wakeful: InProcess) -> None:
    response = await wakeful.client.post("/mcp", json={"name": "x", "config": {"type": "local"}})
    assert response.status_code == 400
    assert response.json()["_tag"] == "InvalidRequestError"


async def test_resources_of_the_connected_servers(remote: tuple[str, Served], wakeful: InProcess) -> None:
    url, _ = remote
    configure(wakeful.project, **{"ops team": {"type": "remote", "url": url}})
    assert ok(await wakeful.client.get("/experimental/resource")) == {
        "ops_team:runbook": {
            "name": "runbook",
            "uri": "file:///runbook.md",
            "description": "What to do",
            "mimeType": "text/markdown",
            "client": "ops team",
        }
    }
