"""The fast path of the routes that start a held run answers exactly what FastAPI's handler answers.

Each request goes twice through the in-process app: with the fast paths, and with them turned off
(FastAPI's handler alone, the reference behaviour the route's signature declares). Status and body
must agree, for ordinary calls and for every kind of refusal; ordinary calls must not reach FastAPI's
dependency solving at all.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest

from tests.support.inproc import InProcess, app_without_lifespan, create_session
from wakeful.config import ServerConfig
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


async def test_an_ordinary_call_never_reaches_the_router(
    wakeful: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router, the exception middleware and FastAPI's request handling stay out of a held call,
    whose frames live as long as it is held; anything else is routed as ever."""
    routed: list[str] = []
    original = fastapi.routing.APIRouter.__call__

    async def counting(self: fastapi.routing.APIRouter, scope: Any, receive: Any, send: Any) -> None:
        routed.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(fastapi.routing.APIRouter, "__call__", counting)
    sid = await create_session(wakeful.client)
    routed.clear()
    for case in ("prompt", "prompt with every query", "shell", "session unknown"):
        assert (await CASES[case](wakeful.client, sid)).status_code in (200, 404)
    assert routed == []
    assert (await CASES["body of the wrong shape"](wakeful.client, sid)).status_code == 400
    assert routed == [f"/session/{sid}/message"]


@pytest.mark.parametrize(
    ("env", "headers", "status"),
    [
        ({"WAKEFUL_SERVER_PASSWORD": "pw"}, {}, 401),
        ({}, {"host": "rebound.example"}, 400),
        ({"WAKEFUL_BODY_MAX_BYTES": "100"}, {}, 413),
    ],
)
async def test_the_middlewares_still_refuse_before_the_fast_path(
    tmp_path: Path, env: dict[str, str], headers: dict[str, str], status: int
) -> None:
    config = ServerConfig.build(env=env, data_dir=tmp_path)
    transport = httpx.ASGITransport(app=await app_without_lifespan(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        body = {"parts": [{"type": "text", "text": "x" * 200}]}
        response = await client.post(f"/session/ses_{'z' * 26}/message", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["_tag"]
