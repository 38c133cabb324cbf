"""Shared fixtures.

In-process (most tests): `wakeful`, the app with its lifespan entered and an httpx client over ASGI,
and `runtime`, the run layer alone; both on a MemoryStore (`store`) in a project whose opencode.json
selects the scripted model (`app_project`), with the test timings plus `app_flags`. A module
overrides those three fixtures to change the project, the store or the config.

Over loopback, where sockets are the point: the scripted LLM (`llm`) and a real wakeful server per
test module (`server`, `http`).

Every async test runs under the loop-stall guard (tests/support/stall.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fakellm import FakeLLM, FakeLLMThread
from tests.support.inproc import InProcess, open_runtime, running, server_config
from tests.support.server import SCRIPTED, WakefulProcess, write_project_config
from tests.support.stall import guard_event_loop, loop_stall_guard
from wakeful.run.runtime import Runtime
from wakeful.storage.base import Store
from wakeful.storage.memory import MemoryStore

__all__ = ["guard_event_loop", "loop_stall_guard"]  # fixtures, found here by pytest

# --- in-process -------------------------------------------------------------------------------------


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    write_project_config(directory, SCRIPTED)
    return directory


@pytest.fixture
def app_flags() -> dict[str, Any]:
    """ServerConfig flags over the test timings."""
    return {}


@pytest.fixture
def store() -> Store:
    return MemoryStore()


@pytest.fixture
async def wakeful(
    tmp_path: Path, app_project: Path, app_flags: dict[str, Any], store: Store
) -> AsyncIterator[InProcess]:
    async with running(server_config(tmp_path / "data", app_project, **app_flags), store) as app:
        yield app


@pytest.fixture
def client(wakeful: InProcess) -> httpx.AsyncClient:
    return wakeful.client


@pytest.fixture
async def runtime(
    tmp_path: Path, app_project: Path, app_flags: dict[str, Any], store: Store
) -> AsyncIterator[Runtime]:
    async with open_runtime(server_config(tmp_path / "data", app_project, **app_flags), store) as opened:
        yield opened


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    """The scripted LLM over loopback on the test's own loop: for in-process tests of what the
    provider adapters send and receive on the wire."""
    async with FakeLLM() as fake:
        yield fake


# --- a server process -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMThread]:
    fake = FakeLLMThread()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLMThread) -> Path:
    directory = tmp_path_factory.mktemp("project")
    write_project_config(
        directory, llm.url, command={"slow": {"template": "DELAY $1\nREPLY slow", "description": "waits"}}
    )
    return directory


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Iterator[WakefulProcess]:
    proc = WakefulProcess(tmp_path_factory.mktemp("data"), project).start()
    yield proc
    proc.stop()


@pytest.fixture
def http(server: WakefulProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Under CI a skipped test is a failure: a test that silently does not run proves nothing.
    if os.environ.get("CI") and exitstatus == 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        skipped = reporter.stats.get("skipped", []) if reporter else []
        if skipped:
            reporter.write_line(f"CI: {len(skipped)} test(s) skipped; failing the run", red=True)
            session.exitstatus = 1
