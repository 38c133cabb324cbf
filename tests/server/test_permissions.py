"""Permissions over real sockets: a team's opencode.json enforced, approvals that wait (with the held
call's keep-alive going on), timeouts, `always`, and what clears a pending request (abort, a restart
after SIGKILL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import Background, event_log, new_session, prompt, prompt_body, tool
from tests.support.schemas import validate, validate_response
from tests.support.server import SCRIPTED, WakefulProcess, write_project_config

RULES = {
    "bash": {"*": "allow", "rm *": "deny"},
    "edit": "deny",
    "read": {"*.secret": "deny"},
    "external_directory": "deny",
}
ASK_ECHO = [{"permission": "bash", "pattern": "echo *", "action": "ask"}]
INTERVAL = 0.2  # the test servers' keep-alive interval


@pytest.fixture(scope="module")
def team_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("perm")
    project = root / "project"
    (project / "data").mkdir(parents=True)
    write_project_config(project, SCRIPTED, permission=RULES)
    (project / "notes.txt").write_text("keep me\n")
    (project / "keys.secret").write_text("TOP-SECRET-KEY\n")
    (root / "outside.txt").write_text("SERVER-PRIVATE\n")
    (project / "escape.txt").symlink_to(root / "outside.txt")
    return project


@pytest.fixture(scope="module")
def team_server(tmp_path_factory: pytest.TempPathFactory, team_project: Path) -> Iterator[WakefulProcess]:
    proc = WakefulProcess(tmp_path_factory.mktemp("perm-data"), team_project).start()
    yield proc
    proc.stop()


@pytest.fixture
def http(team_server: WakefulProcess) -> Iterator[httpx.Client]:
    with team_server.client() as client:
        yield client


def text_of(reply: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in reply["parts"] if p["type"] == "text")


def tool_errors(http: httpx.Client, sid: str) -> list[str]:
    stored = http.get(f"/session/{sid}/message").json()
    return [p["state"].get("error", "") for m in stored for p in m["parts"] if p["type"] == "tool"]


def test_deny_rules_for_bash_edit_and_read(http: httpx.Client, team_project: Path) -> None:
    sid = new_session(http)
    reply = prompt(http, sid, tool("bash", command="echo hi && rm -rf data"))
    assert "TOOL_RESULT_SEEN: Permission denied" in text_of(reply)
    assert (team_project / "data").is_dir()
    reply = prompt(http, sid, tool("edit", filePath="notes.txt", oldString="keep", newString="lose"))
    assert 'Permission denied: the rule {"permission": "edit", "pattern": "*", "action": "deny"}' in text_of(
        reply
    )
    assert (team_project / "notes.txt").read_text() == "keep me\n"
    reply = prompt(http, sid, tool("read", filePath="keys.secret"))
    assert '"pattern": "*.secret"' in text_of(reply) and "TOP-SECRET-KEY" not in text_of(reply)
    reply = prompt(http, sid, tool("read", filePath="notes.txt"))
    assert "keep me" in text_of(reply)  # what no rule denies still runs
    agents = http.get("/agent").json()
    build = next(a for a in agents if a["name"] == "build")
    assert {"permission": "edit", "pattern": "*", "action": "deny"} in build["permission"]
    validate_response("get", "/agent", 200, agents)


def test_a_symlink_out_of_the_project_and_a_file_part_outside_are_refused(
    http: httpx.Client, team_project: Path
) -> None:
    sid = new_session(http)
    reply = prompt(http, sid, tool("read", filePath="escape.txt"))
    assert '"permission": "external_directory"' in text_of(reply)
    assert "SERVER-PRIVATE" not in text_of(reply)
    outside = team_project.parent / "outside.txt"
    body = {
        "parts": [
            {"type": "text", "text": "REPLY x"},
            {"type": "file", "mime": "text/plain", "url": outside.as_uri()},
        ]
    }
    refused = http.post(f"/session/{sid}/message", json=body)
    assert refused.status_code == 400
    assert refused.json()["field"] == "parts.1.url" and "external_directory" in refused.json()["message"]
    validate("InvalidRequestError", refused.json())


def test_an_ask_approved_by_a_second_client_after_ten_keepalive_intervals(
    team_server: WakefulProcess, http: httpx.Client
) -> None:
    sid = new_session(http, permission=ASK_ECHO)
    newlines = 0
    ten = threading.Event()

    def held_call() -> bytes:
        nonlocal newlines
        body = b""
        with (
            team_server.client(timeout=httpx.Timeout(10.0, read=INTERVAL * 5)) as own,
            own.stream(
                "POST", f"/session/{sid}/message", json=prompt_body(tool("bash", command="echo approved"))
            ) as response,
        ):
            assert response.status_code == 200
            for chunk in response.iter_raw():
                body += chunk
                if not body.strip():
                    newlines = body.count(b"\n")
                    if newlines >= 10:
                        ten.set()
        return body

    with event_log(team_server.url) as events:
        call = Background(held_call)
        asked = events.wait_type("permission.asked", sid)
        assert ten.wait(30), f"only {newlines} keep-alive newlines"
        pending = http.get("/permission").json()
        validate_response("get", "/permission", 200, pending)
        assert [p["id"] for p in pending] == [asked["properties"]["id"]]
        answer = http.post(f"/permission/{asked['properties']['id']}/reply", json={"reply": "once"})
        assert answer.status_code == 200 and answer.json() is True
        body = call.result(30)
        replied = events.wait_type("permission.replied", sid)
    assert body.startswith(b"\n" * 10)
    reply = json.loads(body)
    assert "TOOL_RESULT_SEEN: approved" in text_of(reply)
    assert replied["properties"] == {
        "sessionID": sid,
        "requestID": asked["properties"]["id"],
        "reply": "once",
    }
    validate("Event", asked)
    validate("Event", replied)
    assert http.get("/permission").json() == []


def test_an_ask_nobody_answers_ends_as_a_rejection(team_server: WakefulProcess, http: httpx.Client) -> None:
    sid = new_session(http, permission=ASK_ECHO)
    response = http.post(
        f"/session/{sid}/message?permission_timeout=0.3", json=prompt_body(tool("bash", command="echo alone"))
    )
    assert response.status_code == 200
    assert "Nobody answered the request for permission to use bash (echo alone) within 0.3 s" in text_of(
        response.json()
    )
    assert http.get("/permission").json() == []
    assert any("nobody answered within 0.3 s" in line for line in team_server.output)


def test_always_applies_to_the_next_matching_call(team_server: WakefulProcess, http: httpx.Client) -> None:
    sid = new_session(http, permission=ASK_ECHO)
    with event_log(team_server.url) as events:
        call = Background(lambda: prompt(http, sid, tool("bash", command="echo one")))
        asked = events.wait_type("permission.asked", sid)
        reply = http.post(f"/permission/{asked['properties']['id']}/reply", json={"reply": "always"})
        assert reply.status_code == 200
        call.result(30)
        later = prompt(http, sid, tool("bash", command="echo two"))
        assert "TOOL_RESULT_SEEN: two" in text_of(later)
        assert len(events.of("permission.asked", sid)) == 1


def test_an_unknown_request_is_404(http: httpx.Client) -> None:
    missing = http.post("/permission/per_nothing/reply", json={"reply": "once"})
    assert missing.status_code == 404
    validate("PermissionNotFoundError", missing.json())
    sid = new_session(http)
    old_form = http.post(f"/session/{sid}/permissions/per_nothing", json={"response": "once"})
    assert old_form.status_code == 404 and old_form.json()["name"] == "NotFoundError"
    assert http.post("/permission/per_x/reply", json={"reply": "maybe"}).status_code == 400


def test_abort_clears_a_pending_request(team_server: WakefulProcess, http: httpx.Client) -> None:
    sid = new_session(http, permission=ASK_ECHO)
    with event_log(team_server.url) as events:
        assert (
            http.post(
                f"/session/{sid}/prompt_async", json=prompt_body(tool("bash", command="echo x"))
            ).status_code
            == 204
        )
        asked = events.wait_type("permission.asked", sid)
        assert http.post(f"/session/{sid}/abort").json() is True
        replied = events.wait_type("permission.replied", sid)
    assert replied["properties"] == {
        "sessionID": sid,
        "requestID": asked["properties"]["id"],
        "reply": "reject",
    }
    assert http.get("/permission").json() == []


def test_a_restart_after_sigkill_clears_pending_requests_and_asks_again(
    tmp_path: Path, team_project: Path
) -> None:
    data = tmp_path / "data"
    first = WakefulProcess(data, team_project).start()
    try:
        with first.client() as http:
            sid = new_session(http, permission=ASK_ECHO)
            with event_log(first.url) as events:
                http.post(f"/session/{sid}/prompt_async", json=prompt_body(tool("bash", command="echo x")))
                asked = events.wait_type("permission.asked", sid)
            assert [p["id"] for p in http.get("/permission").json()] == [asked["properties"]["id"]]
    finally:
        first.kill()
    second = WakefulProcess(data, team_project).start()
    try:
        with second.client() as http:
            assert http.get("/permission").json() == []
            last = http.get(f"/session/{sid}/message").json()[-1]
            assert "interrupted" in last["info"]["error"]["data"]["message"]
            with event_log(second.url) as events:
                http.post(f"/session/{sid}/prompt_async", json=prompt_body(tool("bash", command="echo x")))
                again = events.wait_type("permission.asked", sid)
            assert again["properties"]["id"] != asked["properties"]["id"]
            http.post(f"/session/{sid}/abort")
    finally:
        second.stop()
