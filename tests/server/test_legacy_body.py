"""The body of opencode's published Python SDK (`session.chat`, opencode-ai 0.1.0a36): the model as
top-level `providerID` and `modelID`. Honoured as `model`; any other unknown key is still refused."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.inproc import InProcess
from wakeful import ids

TEXT = [{"type": "text", "text": "REPLY legacy"}]


async def post(client: httpx.AsyncClient, sid: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/session/{sid}/message", json=body)


async def new_session(client: httpx.AsyncClient) -> str:
    sid: str = (await client.post("/session", json={})).json()["id"]
    return sid


async def test_top_level_provider_and_model_choose_the_model(
    wakeful: InProcess, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    message_id = ids.message_id()
    legacy = {"messageID": message_id, "providerID": "anth", "modelID": "claude-mock", "parts": TEXT}
    reply = (await post(client, sid, legacy)).json()
    assert (reply["info"]["providerID"], reply["info"]["modelID"]) == ("anth", "claude-mock")
    assert reply["parts"][-2]["text"] == "legacy"
    # The same request in today's form is the same request: answered from storage, not a conflict.
    current = {
        "messageID": message_id,
        "model": {"providerID": "anth", "modelID": "claude-mock"},
        "parts": TEXT,
    }
    again = await post(client, sid, current)
    assert again.status_code == 200 and again.json() == reply


async def test_half_a_legacy_model_and_other_unknown_keys_are_refused(client: httpx.AsyncClient) -> None:
    sid = await new_session(client)
    refusals = {
        "providerID": {"providerID": "anth", "parts": TEXT},
        "both forms": {
            "providerID": "anth",
            "modelID": "claude-mock",
            "model": {"providerID": "mock", "modelID": "mock-model"},
            "parts": TEXT,
        },
        "mode": {"mode": "build", "parts": TEXT},
    }
    for case, body in refusals.items():
        response = await post(client, sid, body)
        assert response.status_code == 400, case
        assert response.json()["_tag"] == "InvalidRequestError", case
    assert (await post(client, sid, refusals["mode"])).json()["message"] == "Unknown field: mode"
    messages = (await client.get(f"/session/{sid}/message")).json()
    assert messages == []  # nothing was stored for a refused body
