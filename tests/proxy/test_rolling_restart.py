"""A rolling restart behind nginx: two replicas upstream, A is SIGTERMed while it runs held calls, and
no client sees a failure. A finishes its runs (the drain) and exits; calls that reach A meanwhile are
refused with a 503 that nginx passes to B (`proxy_next_upstream error http_503 non_idempotent`), and
once A is gone nginx sends everything to B."""

from __future__ import annotations

import json
import re
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.proxy.nginx import INSTALL_HINT, Nginx, nginx_binary
from tests.support.fakellm import FakeLLMThread
from tests.support.http import new_session, prompt_body, text_of
from tests.support.procs import wait_until
from tests.support.replicas import database, replica, start_all, stored_run
from tests.support.server import WakefulProcess
from wakeful import ids

pytestmark = pytest.mark.postgres
PATIENCE = 30.0  # a guard against a hang, never a bound a passing test comes near
HELD = 4


@pytest.fixture
def upstreams(
    tmp_path: Path, project: Path, postgres_url: str
) -> Iterator[tuple[WakefulProcess, WakefulProcess, Nginx, str]]:
    if nginx_binary() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with database(postgres_url) as url:
        a, b = start_all(
            replica(tmp_path, "a", project, url, "--drain-timeout", f"{PATIENCE:g}"),
            replica(tmp_path, "b", project, url),
        )
        proxy = Nginx([a.url, b.url], tmp_path / "nginx", read_timeout=5.0)
        try:
            proxy.start()
            yield a, b, proxy, url
        finally:
            proxy.stop()
            a.stop()
            b.stop()


def instance_of(proc: WakefulProcess) -> str:
    found = re.search(r"replica (run_\w+): lease", "".join(proc.output))
    assert found, "".join(proc.output)
    return found.group(1)


def test_a_replica_sigtermed_mid_run_behind_nginx_fails_no_client(
    upstreams: tuple[WakefulProcess, WakefulProcess, Nginx, str], llm: FakeLLMThread
) -> None:
    a, b, proxy, url = upstreams
    key = f"roll{uuid.uuid4().hex[:8]}"
    answers: dict[str, tuple[int, bytes]] = {}

    def call(sid: str, text: str, mid: str) -> None:
        with httpx.Client(base_url=proxy.url, timeout=httpx.Timeout(PATIENCE, read=5.0)) as http:
            response = http.post(f"/session/{sid}/message", json=prompt_body(text, messageID=mid))
            answers[mid] = (response.status_code, response.content)

    def calls(texts: list[str]) -> tuple[list[threading.Thread], dict[str, str]]:
        with httpx.Client(base_url=proxy.url, timeout=PATIENCE) as http:
            sids = [new_session(http) for _ in texts]
        wanted = {ids.message_id(): text for text in texts}
        threads = [
            threading.Thread(target=call, args=(sid, text, mid))
            for sid, (mid, text) in zip(sids, wanted.items(), strict=True)
        ]
        for thread in threads:
            thread.start()
        return threads, wanted

    held, held_texts = calls([f"HOLD_BEFORE {key}\nREPLY held {n}" for n in range(HELD)])
    try:
        llm.wait_for_hold(key, timeout=PATIENCE, count=HELD)
        owners = {run.instance for mid in held_texts if (run := stored_run(url, mid)) is not None}
        assert instance_of(a) in owners  # nginx spread them: A runs some of the held calls

        a.signal(signal.SIGTERM)
        wait_until(lambda: "draining" in "".join(a.output), timeout=PATIENCE, interval=0.02)
        during, during_texts = calls([f"REPLY during the drain {n}" for n in range(HELD)])
        for thread in during:
            thread.join(PATIENCE)
        llm.release(key)
        for thread in held:
            thread.join(PATIENCE)
        assert a.wait(PATIENCE) == 0
        after, after_texts = calls(["REPLY after the restart"])
        for thread in after:
            thread.join(PATIENCE)
    finally:
        llm.release(key)

    expected = {**held_texts, **during_texts, **after_texts}
    assert set(answers) == set(expected)
    for mid, text in expected.items():
        status, body = answers[mid]
        assert status == 200, body
        reply = json.loads(body)
        assert "error" not in reply["info"], reply["info"]
        assert text_of(reply) == text.rsplit("REPLY ", 1)[1]
    # The calls sent during the drain and after it were all run by B.
    later = [stored_run(url, mid) for mid in (*during_texts, *after_texts)]
    assert {run.instance for run in later if run is not None} == {instance_of(b)}
