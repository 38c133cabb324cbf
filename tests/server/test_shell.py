"""`POST /session/{id}/shell`, and what a busy session refuses or aborts (issue 4)."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.http import prompt_body, text_of, validate_all, validate_message
from tests.support.inproc import InProcess, create_session, messages, wait_idle
from tests.support.schemas import capture, validate, validate_response


def model_calls(wakeful: InProcess) -> int:
    return len(wakeful.model("mock").requests) + len(wakeful.model("anth").requests)


async def test_shell_is_stored_like_the_reference(client: httpx.AsyncClient, wakeful: InProcess) -> None:
    sid = await create_session(client)
    before = model_calls(wakeful)
    response = await client.post(
        f"/session/{sid}/shell", json={"agent": "build", "command": "echo hi-from-shell; pwd"}
    )
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
    assert state["output"] == f"hi-from-shell\n{wakeful.project}\n" and state["title"] == ""
    assert state["metadata"]["output"] == state["output"]
    assert model_calls(wakeful) == before  # no LLM

    stored = await messages(client, sid)
    validate_all(stored)
    user, assistant = stored
    assert (
        assistant["info"]["parentID"] == user["info"]["id"] and assistant["info"]["id"] == reply["info"]["id"]
    )
    (synthetic,) = user["parts"]
    assert (
        synthetic["synthetic"] is True and synthetic["text"] == "The following tool was executed by the user"
    )


async def test_shell_failures_are_reported_not_raised(client: httpx.AsyncClient) -> None:
    sid = await create_session(client)
    failed = await client.post(
        f"/session/{sid}/shell", json={"agent": "build", "command": "echo oops >&2; exit 3"}
    )
    state = failed.json()["parts"][0]["state"]
    assert state["status"] == "completed" and state["output"] == "oops\n" and state["metadata"]["exit"] == 3
    assert (
        await client.post(f"/session/{sid}/shell", json={"agent": "build", "command": "  "})
    ).status_code == 400
    assert (
        await client.post(f"/session/{sid}/shell", json={"agent": "nope", "command": "true"})
    ).status_code == 400
    assert (await client.post(f"/session/{sid}/shell", json={"command": "true"})).status_code == 400


async def test_shell_on_a_busy_session_is_409(client: httpx.AsyncClient, wakeful: InProcess) -> None:
    sid = await create_session(client)
    held = asyncio.create_task(
        client.post(f"/session/{sid}/message", json=prompt_body("HOLD busy\nREPLY ok"))
    )
    await wakeful.model().held("busy")
    busy = await client.post(f"/session/{sid}/shell", json={"agent": "build", "command": "echo never"})
    assert busy.status_code == 409
    body = busy.json()
    validate_response("post", "/session/{sessionID}/shell", 409, body)
    assert body["_tag"] == "SessionBusyError" and body["sessionID"] == sid
    wakeful.model().release("busy")
    assert text_of((await held).json()) == "ok"
    assert len(await messages(client, sid)) == 2  # the refused shell call stored nothing
    assert sid not in (await client.get("/session/status")).json()  # idle as soon as the reply is out
    after = await client.post(f"/session/{sid}/shell", json={"agent": "build", "command": "echo now"})
    assert after.status_code == 200


async def test_abort_stops_a_shell_command(client: httpx.AsyncClient, wakeful: InProcess) -> None:
    sid = await create_session(client)
    events = wakeful.events()
    held = asyncio.create_task(
        client.post(f"/session/{sid}/shell", json={"agent": "build", "command": "sleep 300"})
    )
    await events.wait_tool(sid, "bash", "running")
    assert (await client.post(f"/session/{sid}/abort")).json() is True
    reply = (await held).json()
    validate_message(reply)
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    assert reply["parts"][0]["state"]["status"] == "error"


async def test_deleting_a_busy_session_aborts_its_run_first(
    client: httpx.AsyncClient, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    held = asyncio.create_task(client.post(f"/session/{sid}/message", json=prompt_body("HOLD delete")))
    await wakeful.model().held("delete")
    deleted = await client.delete(f"/session/{sid}")
    assert deleted.status_code == 200 and deleted.json() is True
    reply = (await held).json()
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    assert (await client.get(f"/session/{sid}")).status_code == 404
    assert (await client.get(f"/session/{sid}/message")).status_code == 404
    status = (await client.get("/session/status")).json()
    assert sid not in status


async def test_deleting_a_message_of_a_busy_session_is_409(
    client: httpx.AsyncClient, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    first = (await client.post(f"/session/{sid}/message", json=prompt_body("REPLY first"))).json()
    held = asyncio.create_task(client.post(f"/session/{sid}/message", json=prompt_body("HOLD delmsg")))
    await wakeful.model().held("delmsg")
    refused = await client.delete(f"/session/{sid}/message/{first['info']['id']}")
    assert refused.status_code == 409
    validate_response("delete", "/session/{sessionID}/message/{messageID}", 409, refused.json())
    validate("SessionBusyError", refused.json())
    wakeful.model().release("delmsg")
    await held
    await wait_idle(client, sid)
    assert (await client.delete(f"/session/{sid}/message/{first['info']['id']}")).json() is True
    assert first["info"]["id"] not in {m["info"]["id"] for m in await messages(client, sid)}
