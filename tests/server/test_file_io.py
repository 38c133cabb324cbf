"""File I/O that used to block, over real sockets: a `file` part that has become a FIFO, and `read`
calls on a FIFO that used up the thread pool. Nothing may wait on a FIFO: it is refused at once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.http import Background, new_session, prompt, request_text, requests_for, text_of, tool
from tests.support.server import WakefulProcess

THREADS = 2  # a small tool pool: eight FIFO reads would use it up several times over if any waited


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Iterator[WakefulProcess]:
    proc = WakefulProcess(
        tmp_path_factory.mktemp("file-io-data"), project, env={"WAKEFUL_TOOL_THREADS": str(THREADS)}
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
def http(server: WakefulProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def test_a_file_part_that_became_a_fifo_freezes_nothing(
    http: httpx.Client, llm: FakeLLMThread, project: Path
) -> None:
    path = project / "became-a-fifo.txt"
    path.write_text("first content")
    sid = new_session(http)
    body = {
        "parts": [
            {"type": "text", "text": "REPLY first"},
            {"type": "file", "mime": "text/plain", "filename": "became-a-fifo.txt", "url": path.as_uri()},
        ]
    }
    assert http.post(f"/session/{sid}/message", json=body).status_code == 200
    path.unlink()
    os.mkfifo(path)  # the next run reads the earlier message's file part again
    reply = prompt(http, sid, "REPLY second")
    assert text_of(reply) == "second"
    (seen,) = requests_for(llm, "REPLY second")
    assert "named pipe" in request_text(seen) and "first content" not in request_text(seen)
    assert http.get("/global/health").json()["healthy"] is True


def test_read_calls_on_a_fifo_leave_the_tool_pool_free(
    server: WakefulProcess, http: httpx.Client, project: Path
) -> None:
    os.mkfifo(project / "pipe")
    (project / "found-by-glob.md").write_text("x")
    calls = [
        Background(lambda: prompt(http, new_session(http), tool("read", filePath="pipe")))
        for _ in range(4 * THREADS)
    ]
    replies = [call.result(30) for call in calls]
    assert all("named pipe" in text_of(reply) for reply in replies)
    other = prompt(http, new_session(http), tool("glob", pattern="found-by-*.md"))
    assert "found-by-glob.md" in text_of(other)
    grep = prompt(http, new_session(http), tool("grep", pattern="never-matches-anything-zq"))
    assert "No files found" in text_of(grep)  # the walk passed the FIFO without opening it to wait
