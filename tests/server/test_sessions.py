"""Session routes: create, list, get, update, delete, children, and bad input."""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from pathlib import Path

import httpx

from tests.support.http import prompt_body
from tests.support.inproc import InProcess
from tests.support.schemas import capture, validate, validate_response


async def _create(client: httpx.AsyncClient, **body: object) -> dict:
    response = await client.post("/session", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_create_matches_the_reference_shape(client: httpx.AsyncClient, wakeful: InProcess) -> None:
    session = await _create(client)
    validate_response("post", "/session", 200, session)
    reference = capture("session-create.json")
    assert set(session) == set(reference)
    assert session["id"].startswith("ses_") and len(session["id"]) == len(reference["id"])
    assert session["directory"] == str(wakeful.project)
    assert session["title"].startswith("New session - ")
    assert session["version"] == "1.18.33"


async def test_list_is_newest_first_with_limit_and_search(client: httpx.AsyncClient) -> None:
    made = [
        await _create(client, title=f"listing {i} alpha" if i % 2 else f"listing {i} beta") for i in range(5)
    ]
    listed = (await client.get("/session")).json()
    validate_response("get", "/session", 200, listed)
    ids = [s["id"] for s in listed]
    positions = [ids.index(s["id"]) for s in made]
    assert positions == sorted(positions, reverse=True)
    assert len((await client.get("/session", params={"limit": 2})).json()) == 2
    found = (await client.get("/session", params={"search": "ALPHA"})).json()
    assert {s["title"] for s in found} == {"listing 1 alpha", "listing 3 alpha"}
    assert (await client.get("/session", params={"limit": -1})).status_code == 400


async def test_get_update_delete(client: httpx.AsyncClient) -> None:
    session = await _create(client, title="to change")
    sid = session["id"]
    got = await client.get(f"/session/{sid}")
    assert got.status_code == 200 and got.json() == session
    patched = (await client.patch(f"/session/{sid}", json={"title": "changed"})).json()
    validate("Session", patched)
    assert patched["title"] == "changed" and patched["time"]["updated"] >= session["time"]["updated"]
    assert (await client.delete(f"/session/{sid}")).json() is True
    missing = await client.get(f"/session/{sid}")
    assert missing.status_code == 404
    validate_response("get", "/session/{sessionID}", 404, missing.json())
    assert (await client.delete(f"/session/{sid}")).status_code == 404


async def test_children_and_roots(client: httpx.AsyncClient) -> None:
    parent = await _create(client, title="parent")
    child = await _create(client, parentID=parent["id"])
    assert child["parentID"] == parent["id"] and child["title"].startswith("Child session - ")
    children = (await client.get(f"/session/{parent['id']}/children")).json()
    assert [c["id"] for c in children] == [child["id"]]
    roots = (await client.get("/session", params={"roots": "true"})).json()
    assert child["id"] not in {s["id"] for s in roots} and parent["id"] in {s["id"] for s in roots}
    assert (await client.post("/session", json={"parentID": "ses_doesnotexist"})).status_code == 404


async def test_delete_removes_the_whole_subtree_after_stopping_its_runs(
    client: httpx.AsyncClient, wakeful: InProcess
) -> None:
    root = await _create(client, title="root")
    child = await _create(client, parentID=root["id"])
    grandchild = await _create(client, parentID=child["id"])
    other = await _create(client, title="unrelated")
    held = asyncio.create_task(
        client.post(f"/session/{grandchild['id']}/message", json=prompt_body("HOLD subtree"))
    )
    await wakeful.model().held("subtree")
    assert (await client.delete(f"/session/{root['id']}")).json() is True
    reply = (await held).json()
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    for gone in (root, child, grandchild):
        assert (await client.get(f"/session/{gone['id']}")).status_code == 404
        assert (await client.get(f"/session/{gone['id']}/message")).status_code == 404
    assert (await client.get(f"/session/{other['id']}")).status_code == 200
    listed = {s["id"] for s in (await client.get("/session", params={"limit": 1000})).json()}
    assert not listed & {root["id"], child["id"], grandchild["id"]}
    assert grandchild["id"] not in (await client.get("/session/status")).json()


async def test_bad_input_is_refused_and_changes_nothing(client: httpx.AsyncClient) -> None:
    before = (await client.get("/session", params={"limit": 1000})).json()
    unknown_field = await client.post("/session", json={"title": "x", "nope": 1})
    assert unknown_field.status_code == 400
    body = unknown_field.json()
    assert body["_tag"] == "InvalidRequestError" and body["field"] == "nope"
    validate("InvalidRequestError", body)
    not_json = await client.post(
        "/session", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert (await client.post("/session", json={"title": 5})).status_code == 400
    bad_id = await client.get("/session/not-a-session")
    assert bad_id.status_code == 400 and bad_id.json()["_tag"] == "InvalidRequestError"
    session = await _create(client)
    assert (await client.patch(f"/session/{session['id']}", json={"slug": "x"})).status_code == 400
    assert (await client.get(f"/session/{session['id']}")).json()["title"] == session["title"]
    after = (await client.get("/session", params={"limit": 1000})).json()
    assert len(after) == len(before) + 1


async def test_directory_rules(client: httpx.AsyncClient, tmp_path: Path) -> None:
    other = tmp_path / "other project"
    other.mkdir()
    by_query = await client.post("/session", params={"directory": str(other)}, json={})
    assert by_query.json()["directory"] == str(other)
    encoded = urllib.parse.quote(str(other))
    by_header = await client.post("/session", headers={"x-opencode-directory": encoded}, json={})
    assert by_header.json()["directory"] == str(other)
    listed = (await client.get("/session", headers={"x-opencode-directory": encoded})).json()
    assert {s["id"] for s in listed} == {by_query.json()["id"], by_header.json()["id"]}
    assert (await client.post("/session", params={"directory": "relative/path"}, json={})).status_code == 400
    missing = await client.post("/session", params={"directory": str(tmp_path / "missing")}, json={})
    assert missing.status_code == 400 and missing.json()["field"] == "directory"
    assert (
        await client.get("/session", params={"directory": str(other), "workspace": "wrk_x"})
    ).status_code == 200
    assert os.path.isdir(other)  # noqa: ASYNC240 - one stat of a test directory


async def test_status_map_is_empty_when_idle(client: httpx.AsyncClient) -> None:
    status = await client.get("/session/status")
    assert status.status_code == 200 and status.json() == {}
    validate_response("get", "/session/status", 200, status.json())
