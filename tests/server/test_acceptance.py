"""What a prompt is refused with before its headers, and what happens after them (in-process): the
session index, the idempotency claim, invalid bodies, the hard cap, and a deferred failure."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.http import prompt_body
from tests.support.inproc import InProcess, create_session
from wakeful import ids


async def test_an_unknown_session_is_refused_with_404(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/session/{ids.session_id()}/message", json=prompt_body("REPLY x"))
    assert response.status_code == 404


async def test_a_session_another_process_stored_is_found_on_a_miss(wakeful: InProcess) -> None:
    sid = await create_session(wakeful.client)
    sessions = wakeful.runtime.sessions
    stored = (await sessions.get(sid)).wire()
    sessions.index.forget(sid)  # as if another server had created it in the shared store
    assert sessions.index.get(sid) is None
    response = await wakeful.client.post(f"/session/{sid}/message", json=prompt_body("REPLY found"))
    assert response.status_code == 200
    assert [p["text"] for p in response.json()["parts"] if p["type"] == "text"] == ["found"]
    indexed = sessions.index.get(sid)
    assert indexed is not None and indexed.id == stored["id"]


async def test_a_deleted_session_leaves_the_index(client: httpx.AsyncClient, wakeful: InProcess) -> None:
    sid = await create_session(client)
    assert wakeful.runtime.sessions.index.get(sid) is not None
    assert (await client.delete(f"/session/{sid}")).status_code == 200
    assert wakeful.runtime.sessions.index.get(sid) is None
    response = await client.post(f"/session/{sid}/message", json=prompt_body("REPLY x"))
    assert response.status_code == 404


async def test_a_reused_message_id_with_another_body_is_refused_with_409(client: httpx.AsyncClient) -> None:
    sid = await create_session(client)
    message_id = ids.message_id()
    first = await client.post(f"/session/{sid}/message", json=prompt_body("REPLY one", messageID=message_id))
    assert first.status_code == 200
    again = await client.post(f"/session/{sid}/message", json=prompt_body("REPLY one", messageID=message_id))
    assert again.status_code == 200 and again.json() == first.json()
    other = await client.post(f"/session/{sid}/message", json=prompt_body("REPLY two", messageID=message_id))
    assert other.status_code == 409


async def test_an_invalid_body_is_refused_with_400(client: httpx.AsyncClient) -> None:
    sid = await create_session(client)
    response = await client.post(f"/session/{sid}/message", json={"parts": [{"type": "nonsense"}]})
    assert response.status_code == 400
    unknown_agent = await client.post(f"/session/{sid}/message", json=prompt_body("REPLY x", agent="nobody"))
    assert unknown_agent.status_code == 400


async def test_a_failure_after_the_headers_ends_the_body_with_a_json_error(
    wakeful: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = await create_session(wakeful.client)

    async def broken(*_: Any) -> None:
        raise RuntimeError("the provider's SDK could not be imported")

    monkeypatch.setattr(wakeful.runtime.providers, "imported", broken)
    response = await wakeful.client.post(f"/session/{sid}/message", json=prompt_body("REPLY x"))
    assert response.status_code == 200  # accepted: the failure came after the headers
    body = response.json()
    assert body["name"] == "UnknownError"
    assert "could not be imported" in body["data"]["message"]


class TestHardCap:
    @pytest.fixture
    def app_flags(self) -> dict[str, Any]:
        return {"max_held_calls": 1}

    async def test_a_prompt_over_the_hard_cap_gets_503_with_retry_after(self, wakeful: InProcess) -> None:
        client = wakeful.client
        busy, other = await create_session(client), await create_session(client)
        model = wakeful.model()
        accepted = await client.post(f"/session/{busy}/prompt_async", json=prompt_body("HOLD_BEFORE cap\nREPLY ok"))
        assert accepted.status_code == 204
        await model.held("cap")
        refused = await client.post(f"/session/{other}/message", json=prompt_body("REPLY x"))
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        model.release("cap")
        await wakeful.runtime.runs.idle(busy)
        allowed = await client.post(f"/session/{other}/message", json=prompt_body("REPLY now"))
        assert allowed.status_code == 200
