"""Shared fixtures: the scripted LLM and a real wakeful server per test module, over loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.server import WakefulProcess, write_project_config


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
