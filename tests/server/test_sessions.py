"""Session routes over real HTTP: create, list, get, update, delete, children, and bad input."""

from __future__ import annotations

import os
import urllib.parse
import uuid
from pathlib import Path

import httpx

from tests.support.fakellm import FakeLLMThread
from tests.support.http import Background, prompt_body
from tests.support.schemas import capture, validate, validate_response
from tests.support.server import WakefulProcess


def _create(http: httpx.Client, **body: object) -> dict:
    response = http.post("/session", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_matches_the_reference_shape(http: httpx.Client, project: Path) -> None:
    session = _create(http)
    validate_response("post", "/session", 200, session)
    reference = capture("session-create.json")
    assert set(session) == set(reference)
    assert session["id"].startswith("ses_") and len(session["id"]) == len(reference["id"])
    assert session["directory"] == str(project)
    assert session["title"].startswith("New session - ")
    assert session["version"] == "1.18.33"


def test_list_is_newest_first_with_limit_and_search(http: httpx.Client) -> None:
    made = [_create(http, title=f"listing {i} alpha" if i % 2 else f"listing {i} beta") for i in range(5)]
    listed = http.get("/session").json()
    validate_response("get", "/session", 200, listed)
    ids = [s["id"] for s in listed]
    positions = [ids.index(s["id"]) for s in made]
    assert positions == sorted(positions, reverse=True)
    assert len(http.get("/session", params={"limit": 2}).json()) == 2
    found = http.get("/session", params={"search": "ALPHA"}).json()
    assert {s["title"] for s in found} == {"listing 1 alpha", "listing 3 alpha"}
    assert http.get("/session", params={"limit": -1}).status_code == 400


def test_get_update_delete(http: httpx.Client) -> None:
    session = _create(http, title="to change")
    sid = session["id"]
    got = http.get(f"/session/{sid}")
    assert got.status_code == 200 and got.json() == session
    patched = http.patch(f"/session/{sid}", json={"title": "changed"}).json()
    validate("Session", patched)
    assert patched["title"] == "changed" and patched["time"]["updated"] >= session["time"]["updated"]
    assert http.delete(f"/session/{sid}").json() is True
    missing = http.get(f"/session/{sid}")
    assert missing.status_code == 404
    validate_response("get", "/session/{sessionID}", 404, missing.json())
    assert http.delete(f"/session/{sid}").status_code == 404


def test_children_and_roots(http: httpx.Client) -> None:
    parent = _create(http, title="parent")
    child = _create(http, parentID=parent["id"])
    assert child["parentID"] == parent["id"] and child["title"].startswith("Child session - ")
    children = http.get(f"/session/{parent['id']}/children").json()
    assert [c["id"] for c in children] == [child["id"]]
    roots = http.get("/session", params={"roots": "true"}).json()
    assert child["id"] not in {s["id"] for s in roots} and parent["id"] in {s["id"] for s in roots}
    assert http.post("/session", json={"parentID": "ses_doesnotexist"}).status_code == 404


def test_delete_removes_the_whole_subtree_after_stopping_its_runs(
    server: WakefulProcess, http: httpx.Client, llm: FakeLLMThread
) -> None:
    root = _create(http, title="root")
    child = _create(http, parentID=root["id"])
    grandchild = _create(http, parentID=child["id"])
    other = _create(http, title="unrelated")
    key = f"subtree-{uuid.uuid4().hex[:8]}"
    with server.client() as c:
        held = Background(
            lambda: c.post(f"/session/{grandchild['id']}/message", json=prompt_body(f"HOLD {key}"))
        )
        llm.wait_for_hold(key)
        assert http.delete(f"/session/{root['id']}").json() is True
        reply = held.result(5).json()
    llm.release(key)
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    for gone in (root, child, grandchild):
        assert http.get(f"/session/{gone['id']}").status_code == 404
        assert http.get(f"/session/{gone['id']}/message").status_code == 404
    assert http.get(f"/session/{other['id']}").status_code == 200
    listed = {s["id"] for s in http.get("/session", params={"limit": 1000}).json()}
    assert not listed & {root["id"], child["id"], grandchild["id"]}
    assert grandchild["id"] not in http.get("/session/status").json()


def test_bad_input_is_refused_and_changes_nothing(http: httpx.Client) -> None:
    before = http.get("/session", params={"limit": 1000}).json()
    unknown_field = http.post("/session", json={"title": "x", "nope": 1})
    assert unknown_field.status_code == 400
    body = unknown_field.json()
    assert body["_tag"] == "InvalidRequestError" and body["field"] == "nope"
    validate("InvalidRequestError", body)
    assert (
        http.post("/session", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 400
    )
    assert http.post("/session", json={"title": 5}).status_code == 400
    bad_id = http.get("/session/not-a-session")
    assert bad_id.status_code == 400 and bad_id.json()["_tag"] == "InvalidRequestError"
    session = _create(http)
    assert http.patch(f"/session/{session['id']}", json={"slug": "x"}).status_code == 400
    assert http.get(f"/session/{session['id']}").json()["title"] == session["title"]
    after = http.get("/session", params={"limit": 1000}).json()
    assert len(after) == len(before) + 1


def test_directory_rules(http: httpx.Client, tmp_path: Path) -> None:
    other = tmp_path / "other project"
    other.mkdir()
    by_query = http.post("/session", params={"directory": str(other)}, json={})
    assert by_query.json()["directory"] == str(other)
    encoded = urllib.parse.quote(str(other))
    by_header = http.post("/session", headers={"x-opencode-directory": encoded}, json={})
    assert by_header.json()["directory"] == str(other)
    listed = http.get("/session", headers={"x-opencode-directory": encoded}).json()
    assert {s["id"] for s in listed} == {by_query.json()["id"], by_header.json()["id"]}
    assert http.post("/session", params={"directory": "relative/path"}, json={}).status_code == 400
    missing = http.post("/session", params={"directory": str(tmp_path / "missing")}, json={})
    assert missing.status_code == 400 and missing.json()["field"] == "directory"
    assert http.get("/session", params={"directory": str(other), "workspace": "wrk_x"}).status_code == 200
    assert os.path.isdir(other)


def test_status_map_is_empty_when_idle(http: httpx.Client) -> None:
    status = http.get("/session/status")
    assert status.status_code == 200 and status.json() == {}
    validate_response("get", "/session/status", 200, status.json())
