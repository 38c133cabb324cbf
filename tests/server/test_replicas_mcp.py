"""MCP servers with two replicas on one PostgreSQL database: each replica runs its own connections,
and a change made through B's API (`POST /mcp`, `/mcp/{name}/disconnect|connect`) is made on A too,
where runs of the project may run. The test's stdio server is tests/mcp/mcp_server.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.mcp.support import local_server
from tests.support.http import new_session, prompt, text_of, tool
from tests.support.procs import wait_until
from tests.support.replicas import two_replicas
from tests.support.server import SCRIPTED, WakefulProcess, write_project_config

pytestmark = pytest.mark.postgres
PATIENCE = 20.0  # a guard against a hang, never a bound a passing test comes near


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[tuple[WakefulProcess, WakefulProcess]]:
    project = tmp_path_factory.mktemp("project")
    write_project_config(project, SCRIPTED, mcp={"configured": local_server()})
    root = tmp_path_factory.mktemp("replicas")
    with two_replicas(root, project, postgres_url) as pair:
        yield pair


def status_of(client: httpx.Client, name: str) -> dict[str, Any] | None:
    response = client.get("/mcp")
    assert response.status_code == 200, response.text
    status: dict[str, Any] | None = response.json().get(name)
    return status


def until_status(client: httpx.Client, name: str, status: str) -> None:
    # The change reaches the other replica through the mailbox after B has answered: no event says
    # when, so the test asks until it sees it.
    wait_until(lambda: (status_of(client, name) or {}).get("status") == status, timeout=PATIENCE, interval=0.05)


def test_a_server_added_on_b_is_called_by_a_run_on_a(pair: tuple[WakefulProcess, WakefulProcess]) -> None:
    a, b = pair
    with a.client(timeout=PATIENCE) as on_a, b.client(timeout=PATIENCE) as on_b:
        added = on_b.post("/mcp", json={"name": "ops", "config": local_server()})
        assert added.status_code == 200, added.text
        assert added.json()["ops"] == {"status": "connected"}
        until_status(on_a, "ops", "connected")
        sid = new_session(on_a)
        assert text_of(prompt(on_a, sid, tool("ops_echo", text="from B"))) == "TOOL_RESULT_SEEN: echo: from B"


def test_disconnect_and_connect_on_b_are_made_on_a(pair: tuple[WakefulProcess, WakefulProcess]) -> None:
    a, b = pair
    with a.client(timeout=PATIENCE) as on_a, b.client(timeout=PATIENCE) as on_b:
        until_status(on_a, "configured", "connected")
        assert on_b.post("/mcp/configured/disconnect").json() is True
        assert status_of(on_b, "configured") == {"status": "disabled"}
        until_status(on_a, "configured", "disabled")
        assert on_b.post("/mcp/configured/connect").json() is True
        until_status(on_a, "configured", "connected")
