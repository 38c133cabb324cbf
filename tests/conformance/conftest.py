"""Fixtures of the conformance suite.

One scripted LLM, project and wakeful server for the whole folder (each server start costs seconds).
The server runs with production-like long-call settings, so that the SDK's short-timeout run proves
something: one keep-alive byte and one event heartbeat a second, and a provider allowed to think
longer than the suite's long prompt. Retries stay fast (the WakefulProcess defaults).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.runner import SuiteRunner, ensure_node_packages
from tests.support.fakellm import FakeLLMThread
from tests.support.server import WakefulProcess, write_project_config


@pytest.fixture(scope="package")
def llm() -> Iterator[FakeLLMThread]:
    fake = FakeLLMThread()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="package")
def project(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLMThread) -> Path:
    directory = tmp_path_factory.mktemp("conformance-project")
    write_project_config(directory, llm.url)
    return directory


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Iterator[WakefulProcess]:
    proc = WakefulProcess(
        tmp_path_factory.mktemp("conformance-data"),
        project,
        env={
            "WAKEFUL_KEEPALIVE_INTERVAL": "1",
            "WAKEFUL_SSE_HEARTBEAT": "1",
            "WAKEFUL_PROVIDER_SILENCE": "30",
        },
    ).start()
    yield proc
    proc.stop()


# What `mcp.status` reports without starting anything: a server its entry disables, and one whose
# command does not exist.
SDK_MCP_SERVERS = {
    "tickets": {"type": "local", "command": ["/nonexistent/tickets-mcp"], "enabled": False},
    "broken": {"type": "local", "command": ["/nonexistent/broken-mcp"]},
}


@pytest.fixture(scope="package")
def sdk_project(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLMThread) -> Path:
    """The SDK's project: not the server's working directory, and a name that needs URL-encoding,
    so that the SDK's `directory` option (a query parameter or the encoded `x-opencode-directory`
    header) is what puts the sessions there."""
    directory = tmp_path_factory.mktemp("sdk") / "my project ü"
    directory.mkdir()
    write_project_config(directory, llm.url, mcp=SDK_MCP_SERVERS)
    return directory


@pytest.fixture(scope="package")
def run_suite(llm: FakeLLMThread, sdk_project: Path) -> SuiteRunner:
    return SuiteRunner(ensure_node_packages(), llm, sdk_project)
