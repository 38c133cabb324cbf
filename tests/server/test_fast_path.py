"""The fast path of the routes that start a held run answers exactly what FastAPI's handler answers.

Each request goes twice through the in-process app: with the fast paths, and with them turned off
(FastAPI's handler alone, the reference behaviour the route's signature declares). Status and body
must agree, for ordinary calls and for every kind of refusal; ordinary calls must not reach FastAPI's
dependency solving at all.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import fastapi.routing
import httpx
import pytest

from tests.support.inproc import InProcess, create_session
from wakeful.server import routing

Send = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]
PROMPT = {"parts": [{"type": "text", "text": "REPLY hello"}]}


def post(route: str, body: Any = PROMPT, query: str = "", **headers: str) -> Send:
    async def send(client: httpx.AsyncClient, sid: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await client.post(
            f"/session/{sid}/{route}{query}",
            content=content,
            headers={"content-type": "application/json", **headers},
        )

    return send


def unknown(send: Send) -> Send:
    async def send_unknown(client: httpx.AsyncClient, sid: str) -> httpx.Response:
        return await send(client, "ses_" + "z" * 20)

    return send_unknown


def bad_id(send: Send) -> Send:
    async def send_bad(client: httpx.AsyncClient, sid: str) -> httpx.Response:
        return await send(client, "ses bad")

    return send_bad


CASES: dict[str, Send] = {
    "prompt": post("message"),
    "prompt with every query": post(
        "message", query="?deadline=30&permission_timeout=5&on_disconnect=continue&workspace=w&other=1"
    ),
    "shell": post("shell", {"agent": "build", "command": "echo hi"}),
    "command": post("command", {"command": "nope", "arguments": ""}),
    "deadline negative": post("message", query="?deadline=-1"),
    "deadline not a number": post("message", query="?deadline=soon"),
    "deadline infinite": post("message", query="?deadline=inf"),
    "permission timeout zero": post("message", query="?permission_timeout=0"),
    "on_disconnect unknown": post("message", query="?on_disconnect=never"),
    "keep-alive header bad": post("message", **{"x-keepalive-interval": "-2"}),
    "directory relative": post("message", query="?directory=relative/dir"),
    "directory missing": post("message", **{"x-opencode-directory": "/no/such/dir"}),
    "callback not allowed": post("message", query="?callback=http://example.com/hook"),
    "session unknown": unknown(post("message")),
    "session id outside the grammar": bad_id(post("message")),
    "unknown session and bad body": unknown(post("message", {"parts": 3})),
    "body not JSON": post("message", b'{"parts": ['),
    "body with NaN": post("message", b'{"parts": [], "n": NaN}'),
    "body of the wrong shape": post("message", {"parts": "text"}),
    "body with an unknown field": post("message", {**PROMPT, "bogus": 1}),
    "body not an object": post("message", [1, 2]),
    "too many parts": post("message", {"parts": [{"type": "text", "text": "x"}] * 5000}),
    "shell without a command": post("shell", {"agent": "build"}),
    "content type text": post("message", **{"content-type": "text/plain"}),
}


def comparable(response: httpx.Response) -> Any:
    """What must agree: the status, and the body (a reply's ids and times differ between calls)."""
    body = response.json()
    if response.status_code == 200 and isinstance(body, dict) and "info" in body:
        return 200, [part.get("text") for part in body["parts"]], body["info"].get("error")
    return response.status_code, body


@pytest.mark.parametrize("case", CASES)
async def test_the_fast_path_answers_as_fastapi_does(
    wakeful: InProcess, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    send = CASES[case]
    sid = await create_session(wakeful.client)
    fast = comparable(await send(wakeful.client, sid))
    with monkeypatch.context() as patch:
        patch.setattr(routing, "_FAST_PATHS", {})
        slow = comparable(await send(wakeful.client, await create_session(wakeful.client)))
    assert fast == slow


async def test_an_ordinary_call_skips_fastapis_dependency_solving(
    wakeful: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    solved: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    sid = await create_session(wakeful.client)
    solved.clear()
    for send in (CASES["prompt"], CASES["prompt with every query"], CASES["shell"]):
        assert (await send(wakeful.client, sid)).status_code == 200
    assert solved == []
    # A refusal is FastAPI's to answer.
    assert (await CASES["deadline negative"](wakeful.client, sid)).status_code == 400
    assert solved == [f"/session/{sid}/message"]
