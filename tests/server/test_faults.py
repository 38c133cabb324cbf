"""Long calls under faults: SIGTERM drain and SIGKILL recovery on server processes; deadlines
in-process."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.http import prompt_body
from tests.support.inproc import create_session
from tests.support.procs import running, wait_until
from tests.support.server import WakefulProcess
from tests.support.sse import EventReader
from wakeful import ids


def _key() -> str:
    return f"f{uuid.uuid4().hex[:10]}"


def test_sigterm_drains_held_calls_and_exits(tmp_path: Path, project: Path, llm: FakeLLMThread) -> None:
    short, long = _key(), _key()
    proc = WakefulProcess(tmp_path / "data", project, env={"WAKEFUL_DRAIN_TIMEOUT": "2"}).start()
    bodies: dict[str, bytes] = {}
    with proc.client() as http:
        sids = [http.post("/session", json={}).json()["id"] for _ in range(2)]
    events = EventReader(proc.url)

    def hold(name: str, sid: str, key: str) -> None:
        with proc.client(timeout=httpx.Timeout(30.0, read=2.0)) as http:
            bodies[name] = http.post(
                f"/session/{sid}/message", json=prompt_body(f"HOLD {key}\nREPLY {name}")
            ).content

    threads = [
        threading.Thread(target=hold, args=("short", sids[0], short)),
        threading.Thread(target=hold, args=("long", sids[1], long)),
    ]
    for thread in threads:
        thread.start()
    llm.wait_for_hold(short, timeout=10)
    llm.wait_for_hold(long, timeout=10)
    try:
        proc.signal(signal.SIGTERM)
        signalled = time.monotonic()
        with proc.client() as http:
            refused = http.post(f"/session/{sids[0]}/message", json=prompt_body("REPLY too late"))
        assert refused.status_code == 503
        assert refused.json()["_tag"] == "ServiceUnavailableError" and refused.headers["retry-after"]
        llm.release(short)
        assert proc.wait(timeout=2 + 2 + 1) == 0
        # The drain timeout (2 s) firing is the point: the long run is not waited for.
        assert time.monotonic() - signalled < 4.0, "".join(proc.output)
        for thread in threads:
            thread.join(5)
        short_reply = json.loads(bodies["short"])
        assert short_reply["info"]["finish"] == "stop" and "error" not in short_reply["info"]
        long_reply = json.loads(bodies["long"])
        assert long_reply["info"]["error"]["name"] == "MessageAbortedError"
        assert "shut down" in long_reply["info"]["error"]["data"]["message"]
        # The event stream was ended by the server, not left hanging.
        while events.next(timeout=5) is not None:
            pass
    finally:
        llm.release(long)
        events.close()
        proc.stop()


def test_sigkill_mid_tool_is_recovered_at_restart(tmp_path: Path, project: Path) -> None:
    marker = f"sleep 300.{uuid.uuid4().int % 1000:03d}"
    proc = WakefulProcess(tmp_path / "data", project).start()
    mid = ids.message_id()
    with proc.client() as http:
        sid = http.post("/session", json={}).json()["id"]
        tool = json.dumps({"command": marker})
        accepted = http.post(
            f"/session/{sid}/prompt_async", json=prompt_body(f"TOOL bash {tool}", messageID=mid)
        )
        assert accepted.status_code == 204
        pids = wait_until(lambda: running(marker), timeout=20, interval=0.05)  # the tool started
        assert http.get("/session/status").json()[sid] == {"type": "busy"}
    proc.kill()
    assert running(marker) == pids  # the tool outlived its server
    again = WakefulProcess(tmp_path / "data", project).start()
    try:
        with again.client(timeout=httpx.Timeout(10.0, read=1.0)) as http:
            assert http.get("/session/status").json() == {}
            reply = http.get(f"/session/{sid}/message/{mid}/reply").json()
            error = reply["info"]["error"]
            assert error["name"] == "UnknownError" and "interrupted" in error["data"]["message"]
            tool_parts = [p for p in reply["parts"] if p["type"] == "tool"]
            assert tool_parts and tool_parts[0]["state"]["status"] == "error"
            wait_until(lambda: not running(marker), timeout=3, interval=0.05)
            assert running(marker) == []
            # The session takes new work again.
            assert (
                http.post(f"/session/{sid}/message", json=prompt_body("REPLY alive")).json()["info"]["finish"]
                == "stop"
            )
    finally:
        again.stop()
        for pid in running(marker):
            os.kill(pid, signal.SIGKILL)


# --- deadlines: run behaviour, in-process ---------------------------------------------------------


async def test_a_run_past_its_deadline_returns_its_error_to_the_held_call(client: httpx.AsyncClient) -> None:
    sid = await create_session(client)
    started = time.monotonic()
    response = await client.post(
        f"/session/{sid}/message", params={"deadline": "0.5"}, json=prompt_body(f"HOLD {_key()}")
    )
    # The deadline (0.5 s) firing is the point; nothing releases the run otherwise.
    assert time.monotonic() - started < 5
    error = response.json()["info"]["error"]
    assert error["name"] == "MessageAbortedError" and "deadline of 0.5 s" in error["data"]["message"]
    assert (await client.get("/session/status")).json().get(sid) is None
    refused = await client.post(f"/session/{sid}/message", params={"deadline": "-1"}, json=prompt_body("x"))
    assert refused.status_code == 400


# The server's own deadline, from its config: WAKEFUL_RUN_DEADLINE=0.4.
@pytest.mark.parametrize("app_flags", [{"run_deadline": 0.4}], ids=["run_deadline"])
async def test_the_server_wide_deadline_applies_too(
    client: httpx.AsyncClient, app_flags: dict[str, Any]
) -> None:
    sid = await create_session(client)
    reply = (await client.post(f"/session/{sid}/message", json=prompt_body(f"HOLD {_key()}"))).json()
    assert "deadline of 0.4 s" in reply["info"]["error"]["data"]["message"]
