"""The size limits of a request, in process: a body over the limit, a prompt with too many parts or
too long a text. (Over a socket, with real clients: tests/server/test_hostile_requests.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.inproc import InProcess
from wakeful.errors import InvalidRequestError
from wakeful.server.limits import check_prompt_size


@pytest.fixture
def app_flags() -> dict[str, Any]:
    return {"body_max_bytes": 4096, "prompt_parts_max": 3, "text_max_chars": 100, "search_max_chars": 8}


def refusal(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["_tag"] == "InvalidRequestError" and body["field"] == field, body


async def test_a_body_over_the_limit_is_413_whether_its_length_is_declared_or_not(
    wakeful: InProcess, client: httpx.AsyncClient
) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    body = b'{"parts":[{"type":"text","text":"' + b"a" * 5000 + b'"}]}'
    declared = await client.post(f"/session/{sid}/message", content=body)
    refusal(declared, 413, "body")
    assert declared.headers["connection"] == "close"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    refusal(await client.post(f"/session/{sid}/message", content=chunks()), 413, "body")
    refusal(await client.patch(f"/session/{sid}", content=b'{"title":"' + b"t" * 5000 + b'"}'), 413, "body")
    assert (await client.get(f"/session/{sid}/message")).json() == []
    assert await wakeful.runtime.messages.list(sid) == []


async def test_prompt_limits_and_search_length(client: httpx.AsyncClient) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    text = {"type": "text", "text": "REPLY ok"}
    refusal(await client.post(f"/session/{sid}/message", json={"parts": [text] * 4}), 400, "parts")
    long_text = {"parts": [text, {"type": "text", "text": "x" * 101}]}
    refusal(await client.post(f"/session/{sid}/prompt_async", json=long_text), 400, "parts.1.text")
    command = {"command": "init", "arguments": "a" * 101}
    refusal(await client.post(f"/session/{sid}/command", json=command), 400, "arguments")
    refusal(await client.get("/session", params={"search": "s" * 9}), 400, "search")
    assert (await client.post(f"/session/{sid}/message", json={"parts": [text] * 3})).status_code == 200
    assert (await client.get("/session", params={"search": "s" * 8})).status_code == 200


@pytest.mark.parametrize(
    "body", [None, [], "text", {"parts": "not a list"}, {"parts": [1, None, {"text": 5}]}]
)
def test_shapes_the_body_validation_refuses_are_left_to_it(body: Any, app_flags: dict[str, Any]) -> None:
    from wakeful.config import ServerConfig

    check_prompt_size(body, ServerConfig.build(env={}, **app_flags))


def test_the_first_string_over_the_limit_is_named(app_flags: dict[str, Any]) -> None:
    from wakeful.config import ServerConfig

    config = ServerConfig.build(env={}, **app_flags)
    with pytest.raises(InvalidRequestError) as refused:
        check_prompt_size({"parts": [{"type": "text", "text": "ok"}], "system": "s" * 101}, config)
    assert refused.value.field == "system"
