"""`POST /session/{id}/shell`, and what a busy session refuses or aborts (issue 4)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.support.fakellm import FakeLLMThread
from tests.support.http import (
    Background,
    event_log,
    messages,
    new_session,
    prompt_body,
    text_of,
    validate_all,
    validate_message,
    wait_idle,
)
from tests.support.schemas import capture, validate, validate_response
from tests.support.server import WakefulProcess


def test_shell_is_stored_like_the_reference(http: httpx.Client, llm: FakeLLMThread, project: Path) -> None:
    sid = new_session(http)
    before = len(llm.requests)
    response = http.post(f"/session/{sid}/shell", json={"agent": "build", "command": "echo hi-from-shell; pwd"})
    assert response.status_code == 200, response.text
    reply = response.json()
    validate_response("post", "/session/{sessionID}/shell", 200, reply)
    validate_message(reply)
    reference = capture("exp3b-shell-response.json")
    assert set(reply["info"]) == set(reference["info"])
    assert reply["info"]["tokens"] == reference["info"]["tokens"]
    assert (reply["info"]["providerID"], reply["info"]["modelID"]) == ("mock", "mock-model")
    (part,) = reply["parts"]
    assert set(part) == set(reference["parts"][0])
    state = part["state"]
    assert set(state) == set(reference["parts"][0]["state"])
    assert state["status"] == "completed" and state["input"] == {"command": "echo hi-from-shell; pwd"}
    assert state["output"] == f"hi-from-shell\n{project}\n" and state["title"] == ""
    assert state["metadata"]["output"] == state["output"]
    assert len(llm.requests) == before  # no LLM

    stored = messages(http, sid)
    validate_all(stored)
    user, assistant = stored
    assert assistant["info"]["parentID"] == user["info"]["id"] and assistant["info"]["id"] == reply["info"]["id"]
    (synthetic,) = user["parts"]
    assert synthetic["synthetic"] is True and synthetic["text"] == "The following tool was executed by the user"


def test_shell_failures_are_reported_not_raised(http: httpx.Client) -> None:
    sid = new_session(http)
    reply = http.post(f"/session/{sid}/shell", json={"agent": "build", "command": "echo oops >&2; exit 3"}).json()
    state = reply["parts"][0]["state"]
    assert state["status"] == "completed" and state["output"] == "oops\n" and state["metadata"]["exit"] == 3
    assert http.post(f"/session/{sid}/shell", json={"agent": "build", "command": "  "}).status_code == 400
    assert http.post(f"/session/{sid}/shell", json={"agent": "nope", "command": "true"}).status_code == 400
    assert http.post(f"/session/{sid}/shell", json={"command": "true"}).status_code == 400


def test_shell_on_a_busy_session_is_409(server: WakefulProcess, http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    key = f"busy-{uuid.uuid4().hex[:8]}"
    with server.client() as c:
        held = Background(lambda: c.post(f"/session/{sid}/message", json=prompt_body(f"HOLD {key}\nREPLY ok")))
        llm.wait_for_hold(key)
        busy = http.post(f"/session/{sid}/shell", json={"agent": "build", "command": "echo never"})
        assert busy.status_code == 409
        body = busy.json()
        validate_response("post", "/session/{sessionID}/shell", 409, body)
        assert body["_tag"] == "SessionBusyError" and body["sessionID"] == sid
        llm.release(key)
        assert text_of(held.result().json()) == "ok"
    assert len(messages(http, sid)) == 2  # the refused shell call stored nothing
    assert sid not in http.get("/session/status").json()  # idle as soon as the reply is out
    after = http.post(f"/session/{sid}/shell", json={"agent": "build", "command": "echo now"})
    assert after.status_code == 200


def test_abort_stops_a_shell_command(server: WakefulProcess, http: httpx.Client) -> None:
    sid = new_session(http)
    with event_log(server.url) as events, server.client() as c:
        held = Background(
            lambda: c.post(f"/session/{sid}/shell", json={"agent": "build", "command": "sleep 300"})
        )
        events.wait_tool(sid, "bash", "running")
        assert http.post(f"/session/{sid}/abort").json() is True
        reply = held.result(5).json()
    validate_message(reply)
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    assert reply["parts"][0]["state"]["status"] == "error"


def test_deleting_a_busy_session_aborts_its_run_first(
    server: WakefulProcess, http: httpx.Client, llm: FakeLLMThread
) -> None:
    sid = new_session(http)
    key = f"delete-{uuid.uuid4().hex[:8]}"
    with server.client() as c:
        held = Background(lambda: c.post(f"/session/{sid}/message", json=prompt_body(f"HOLD {key}")))
        llm.wait_for_hold(key)
        deleted = http.delete(f"/session/{sid}")
        assert deleted.status_code == 200 and deleted.json() is True
        reply = held.result(5).json()
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    assert http.get(f"/session/{sid}").status_code == 404
    assert http.get(f"/session/{sid}/message").status_code == 404
    status = http.get("/session/status").json()
    assert sid not in status
    llm.release(key)


def test_deleting_a_message_of_a_busy_session_is_409(
    server: WakefulProcess, http: httpx.Client, llm: FakeLLMThread
) -> None:
    sid = new_session(http)
    first = http.post(f"/session/{sid}/message", json=prompt_body("REPLY first")).json()
    key = f"delmsg-{uuid.uuid4().hex[:8]}"
    with server.client() as c:
        held = Background(lambda: c.post(f"/session/{sid}/message", json=prompt_body(f"HOLD {key}")))
        llm.wait_for_hold(key)
        refused = http.delete(f"/session/{sid}/message/{first['info']['id']}")
        assert refused.status_code == 409
        validate_response("delete", "/session/{sessionID}/message/{messageID}", 409, refused.json())
        validate("SessionBusyError", refused.json())
        llm.release(key)
        held.result()
    wait_idle(http, sid)
    assert http.delete(f"/session/{sid}/message/{first['info']['id']}").json() is True
    assert first["info"]["id"] not in {m["info"]["id"] for m in messages(http, sid)}
