"""Two replicas on one PostgreSQL database: a run on A is reached through B. `/reply`, `/event`, a retry
of the same messageID, an abort and a permission reply sent to B act on A's run; the fake LLM (over
loopback, shared by both) counts the requests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.http import new_session, prompt, prompt_body, text_of
from tests.support.procs import wait_until
from tests.support.replicas import two_replicas
from tests.support.server import WakefulProcess
from tests.support.sse import EventReader, Frame
from wakeful import ids

pytestmark = pytest.mark.postgres
PATIENCE = 20.0  # a guard against a hang, never a bound a passing test comes near


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, project: Path, postgres_url: str
) -> Iterator[tuple[WakefulProcess, WakefulProcess]]:
    root = tmp_path_factory.mktemp("replicas")
    with two_replicas(root, project, postgres_url) as pair:
        yield pair


def _key() -> str:
    return f"r{uuid.uuid4().hex[:10]}"


def held_client(proc: WakefulProcess) -> httpx.Client:
    # A read timeout far below the wait: only the keep-alive newlines keep the call open.
    return proc.client(timeout=httpx.Timeout(PATIENCE, read=2.0))


def test_a_prompt_on_a_is_answered_through_reply_on_b(
    pair: tuple[WakefulProcess, WakefulProcess], llm: FakeLLMThread
) -> None:
    a, b = pair
    key, mid = _key(), ids.message_id()
    with a.client() as on_a, held_client(b) as on_b:
        sid = new_session(on_a)
        body = prompt_body(f"HOLD_BEFORE {key}\nREPLY answered on A", messageID=mid)
        assert on_a.post(f"/session/{sid}/prompt_async", json=body).status_code == 204
        llm.wait_for_hold(key, timeout=PATIENCE)
        # B decides what it answers before its headers leave; the run is held on A until after.
        with on_b.stream("GET", f"/session/{sid}/message/{mid}/reply") as held:
            assert held.status_code == 200
            llm.release(key)
            reply = json.loads(held.read())
    assert text_of(reply) == "answered on A" and reply["info"]["finish"] == "stop"
    assert reply["info"]["parentID"] == mid


def test_an_event_subscriber_on_b_sees_the_run_on_a_under_the_same_ids(
    pair: tuple[WakefulProcess, WakefulProcess],
) -> None:
    a, b = pair
    on_a_events, on_b_events = EventReader(a.url), EventReader(b.url)
    try:
        with a.client() as on_a:
            sid = new_session(on_a)
            assert text_of(prompt(on_a, sid, "REPLY seen from B")) == "seen from B"

        def answer(frame: Frame) -> bool:
            properties = frame.data["properties"]
            return (
                frame.type == "message.part.updated"
                and properties["sessionID"] == sid
                and properties["part"].get("text") == "seen from B"
                and properties["part"].get("time", {}).get("end") is not None
            )

        seen_on_b = on_b_events.until(answer, timeout=PATIENCE)
        seen_on_a = on_a_events.until(answer, timeout=PATIENCE)
        assert seen_on_b.id == seen_on_a.id and seen_on_b.data == seen_on_a.data
        on_b_events.until(
            lambda f: f.type == "session.idle" and f.data["properties"]["sessionID"] == sid, timeout=PATIENCE
        )
        # The user message was announced before the answer, on B as on A.
        kinds = [f.type for f in on_b_events.seen if f.data["properties"].get("sessionID") == sid]
        assert kinds.index("message.updated") < kinds.index("message.part.updated")
    finally:
        on_a_events.close()
        on_b_events.close()


def test_a_retry_on_b_attaches_to_the_run_on_a_and_the_llm_is_asked_once(
    pair: tuple[WakefulProcess, WakefulProcess], llm: FakeLLMThread
) -> None:
    a, b = pair
    key, mid = _key(), ids.message_id()
    script = f"HOLD_BEFORE {key}\nREPLY only once"
    with a.client() as on_a, held_client(b) as on_b:
        sid = new_session(on_a)
        body = prompt_body(script, messageID=mid)
        assert on_a.post(f"/session/{sid}/prompt_async", json=body).status_code == 204
        llm.wait_for_hold(key, timeout=PATIENCE)
        with on_b.stream("POST", f"/session/{sid}/message", json=body) as retried:
            assert retried.status_code == 200
            llm.release(key)
            reply = json.loads(retried.read())
        assert text_of(reply) == "only once"
        assert llm.count(script) == 1
        # Once done, a retry anywhere answers from storage, still without asking the LLM.
        again = on_b.post(f"/session/{sid}/message", json=body).json()
        assert again["info"]["id"] == reply["info"]["id"]
        assert llm.count(script) == 1
        conflict = on_b.post(f"/session/{sid}/message", json=prompt_body("REPLY other", messageID=mid))
        assert conflict.status_code == 409


def test_an_abort_sent_to_b_stops_the_run_on_a(
    pair: tuple[WakefulProcess, WakefulProcess], llm: FakeLLMThread
) -> None:
    a, b = pair
    key, mid = _key(), ids.message_id()
    try:
        with a.client() as on_a, held_client(b) as on_b:
            sid = new_session(on_a)
            body = prompt_body(f"HOLD_BEFORE {key}\nREPLY never", messageID=mid)
            assert on_a.post(f"/session/{sid}/prompt_async", json=body).status_code == 204
            llm.wait_for_hold(key, timeout=PATIENCE)
            assert on_b.get("/session/status").json()[sid] == {"type": "busy"}
            # True once the session is idle on every replica.
            assert on_b.post(f"/session/{sid}/abort").json() is True
            reply = on_b.get(f"/session/{sid}/message/{mid}/reply").json()
            assert reply["info"]["error"]["name"] == "MessageAbortedError"
            assert sid not in on_a.get("/session/status").json()
            assert sid not in on_b.get("/session/status").json()
    finally:
        llm.release(key)


def test_a_permission_reply_sent_to_b_reaches_the_run_waiting_on_a(
    pair: tuple[WakefulProcess, WakefulProcess],
) -> None:
    a, b = pair
    mid = ids.message_id()
    events = EventReader(b.url)
    try:
        with a.client() as on_a, held_client(b) as on_b:
            ask = [{"permission": "bash", "pattern": "*", "action": "ask"}]
            sid = new_session(on_a, permission=ask)
            command = json.dumps({"command": "echo approved", "description": "asks first"})
            body = prompt_body(f"TOOL bash {command}", messageID=mid)
            assert on_a.post(f"/session/{sid}/prompt_async", json=body).status_code == 204
            asked = events.until(
                lambda f: f.type == "permission.asked" and f.data["properties"]["sessionID"] == sid,
                timeout=PATIENCE,
            )
            request_id = asked.data["properties"]["id"]
            assert [r["id"] for r in on_b.get("/permission").json()] == [request_id]
            assert on_b.post(f"/permission/{request_id}/reply", json={"reply": "once"}).json() is True
            reply = on_b.get(f"/session/{sid}/message/{mid}/reply").json()
            assert text_of(reply) == "TOOL_RESULT_SEEN: approved\n"
            assert on_b.get("/permission").json() == []
            unknown = on_b.post(f"/permission/{request_id}/reply", json={"reply": "once"})
            assert unknown.status_code == 404
    finally:
        events.close()


def test_a_session_deleted_on_a_is_refused_by_b_that_had_indexed_it(
    pair: tuple[WakefulProcess, WakefulProcess],
) -> None:
    a, b = pair
    with a.client() as on_a, b.client() as on_b:
        sid = new_session(on_a)
        assert text_of(prompt(on_b, sid, "REPLY indexed on B")) == "indexed on B"
        assert on_a.delete(f"/session/{sid}").status_code == 200

        def refused() -> bool:
            body = prompt_body("REPLY too late")
            return on_b.post(f"/session/{sid}/message", json=body).status_code == 404

        wait_until(refused, timeout=PATIENCE, interval=0.05)
