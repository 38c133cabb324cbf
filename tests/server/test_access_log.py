"""The access log and request ids, in-process: one line per request when its response has ended
(method, path, status, duration, message id), the request id echoed in `X-Request-ID` (the client's
when it is safe, else a new one) and carried by the lines of the run that request submitted."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import prompt_body
from tests.support.inproc import InProcess, create_session, ok, running, server_config
from tests.support.warm import warm_process
from wakeful.telemetry import logs

ACCESS = re.compile(
    r"INFO wakeful\.access: (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) (?P<ms>\d+\.\d)ms"
    r"(?: message_id=(?P<message_id>\S+))? request_id=(?P<rid>\S+)$"
)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_process()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """wakeful's log lines, as `--log-format text` writes them."""
    out = io.StringIO()
    logger = logging.getLogger("wakeful")
    handler = logs.handler("text", out)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


def access_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [m.groupdict() for line in out.getvalue().splitlines() if (m := ACCESS.search(line))]


def lines_of(out: io.StringIO, rid: str) -> list[str]:
    return [line for line in out.getvalue().splitlines() if line.endswith(f" request_id={rid}")]


async def test_a_prompt_is_one_access_line_with_its_message_id_and_request_id(
    wakeful: InProcess, log_lines: io.StringIO
) -> None:
    sid = await create_session(wakeful.client)
    response = await wakeful.client.post(
        f"/session/{sid}/message",
        json=prompt_body("REPLY hi"),
        headers={"X-Request-ID": "build-42.attempt:1"},
    )
    ok(response)
    assert response.headers["X-Request-ID"] == "build-42.attempt:1"
    [create, prompt] = access_lines(log_lines)
    assert create["method"] == "POST" and create["path"] == "/session" and create["message_id"] is None
    assert prompt == {
        "method": "POST",
        "path": f"/session/{sid}/message",
        "status": "200",
        "ms": prompt["ms"],
        "message_id": response.headers["X-Wakeful-Message-ID"],
        "rid": "build-42.attempt:1",
    }
    assert create["rid"] != prompt["rid"]


async def test_an_unsafe_or_missing_request_id_is_replaced_by_a_new_one(
    wakeful: InProcess, log_lines: io.StringIO
) -> None:
    unsafe = await wakeful.client.get("/global/health", headers={"X-Request-ID": "two words"})
    missing = await wakeful.client.get("/global/health")
    too_long = await wakeful.client.get("/global/health", headers={"X-Request-ID": "x" * 129})
    given = [r.headers["X-Request-ID"] for r in (unsafe, missing, too_long)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in given), given
    assert len(set(given)) == 3
    assert [line["rid"] for line in access_lines(log_lines)] == given


async def test_a_queued_run_logs_with_the_id_of_the_request_that_submitted_it(
    wakeful: InProcess, log_lines: io.StringIO
) -> None:
    client, model = wakeful.client, wakeful.model()
    sid = await create_session(client)
    first = await client.post(
        f"/session/{sid}/prompt_async",
        json=prompt_body("HOLD first\nREPLY one"),
        headers={"X-Request-ID": "first"},
    )
    assert first.status_code == 204
    await model.held("first")
    # queued behind the first run, in the session's worker that the first request started
    second = await client.post(
        f"/session/{sid}/prompt_async", json=prompt_body("REPLY two"), headers={"X-Request-ID": "second"}
    )
    assert second.status_code == 204
    model.release("first")
    ok(await client.get(f"/session/{sid}/wait"))

    for rid, response in (("first", first), ("second", second)):
        message_id = response.headers["X-Wakeful-Message-ID"]
        runs = [line for line in lines_of(log_lines, rid) if "wakeful.runs" in line]
        assert len(runs) == 2, runs
        assert f"run {message_id} started: prompt in session {sid}" in runs[0]
        assert f"run {message_id} ended: success after " in runs[1]


async def test_a_refused_request_is_logged_too(
    tmp_path: Path, app_project: Path, log_lines: io.StringIO
) -> None:
    async with running(server_config(tmp_path / "data", app_project, password="pw")) as app:
        refused = await app.client.get("/session")
        assert refused.status_code == 401
    [line] = access_lines(log_lines)
    assert (line["path"], line["status"], line["rid"]) == ("/session", "401", refused.headers["X-Request-ID"])


@pytest.mark.parametrize("app_flags", [{"access_log": False}])
async def test_the_access_log_can_be_turned_off(wakeful: InProcess, log_lines: io.StringIO) -> None:
    answered = await wakeful.client.get("/global/health")
    assert answered.status_code == 200 and answered.headers["X-Request-ID"]
    assert access_lines(log_lines) == []
