"""The size limits of a request, in process: the body limit as a bare ASGI layer and on the app (its
knob), the prompt's size check with small knobs. (Over a socket, with real clients and the default
limits: tests/server/test_hostile_requests.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from wakeful.config import ServerConfig
from wakeful.errors import InvalidRequestError
from wakeful.server.app import create_app
from wakeful.server.limits import BodyLimit, check_prompt_size

LIMIT = 4096


class Reader:
    """An app that reads the whole body, as a route does, then answers how much it read."""

    def __init__(self) -> None:
        self.read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:
            message = await receive()
            self.read += len(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(self.read).encode()})


def scope(**headers: str) -> Scope:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": "POST", "path": "/", "headers": raw}


class Body:
    """A request body in chunks, and what the app sent back."""

    def __init__(self, size: int, chunk: int = 1000) -> None:
        self.chunks = [b"x" * min(chunk, size - start) for start in range(0, size, chunk)]
        self.taken = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.taken == len(self.chunks):
            return {"type": "http.disconnect"}
        self.taken += 1
        return {
            "type": "http.request",
            "body": self.chunks[self.taken - 1],
            "more_body": self.taken < len(self.chunks),
        }

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])


async def test_a_declared_length_over_the_limit_is_drained_then_refused_before_the_app_runs() -> None:
    app = Reader()
    body = Body(LIMIT + 5000)
    await BodyLimit(app, LIMIT, drain_seconds=10)(
        scope(content_length=str(LIMIT + 5000)), body.receive, body.send
    )
    assert body.status == 413 and app.read == 0
    assert body.taken == len(body.chunks)  # every byte read (and dropped) before the answer
    assert (b"connection", b"close") in body.sent[0]["headers"]
    assert b'"_tag":"InvalidRequestError"' in body.sent[1]["body"]


async def test_a_client_that_expects_100_continue_is_refused_without_reading() -> None:
    body = Body(LIMIT + 5000)
    headers = scope(content_length=str(LIMIT + 5000), expect="100-continue")
    await BodyLimit(Reader(), LIMIT, drain_seconds=10)(headers, body.receive, body.send)
    assert body.status == 413 and body.taken == 0


async def test_a_body_without_a_length_is_counted_and_the_rest_drained() -> None:
    body = Body(LIMIT + 5000)
    with pytest.raises(HTTPException) as refused:
        await BodyLimit(Reader(), LIMIT, drain_seconds=10)(scope(), body.receive, body.send)
    assert refused.value.status_code == 413  # the app's error handlers answer it
    assert body.taken == len(body.chunks) and body.sent == []


async def test_a_body_within_the_limit_passes_untouched() -> None:
    app = Reader()
    body = Body(LIMIT)
    await BodyLimit(app, LIMIT, drain_seconds=10)(scope(content_length=str(LIMIT)), body.receive, body.send)
    assert body.status == 200 and app.read == LIMIT


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: the body limit answers before any route, and no route is reached.
    app = create_app(ServerConfig.build(env={}, data_dir=tmp_path, body_max_bytes=LIMIT))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as client:
        yield client


async def test_the_knob_sets_the_apps_limit(limited: httpx.AsyncClient) -> None:
    refused = await limited.post("/session", content=b"{" + b" " * LIMIT + b"}")
    assert refused.status_code == 413
    assert refused.json() == {
        "_tag": "InvalidRequestError",
        "message": f"The request body is over {LIMIT} bytes",
        "field": "body",
    }


KNOBS = {"prompt_parts_max": 3, "text_max_chars": 100}


def refusal_field(body: Any) -> str | None:
    config = ServerConfig.build(env={}, **KNOBS)
    with pytest.raises(InvalidRequestError) as refused:
        check_prompt_size(body, config)
    return refused.value.field


def test_the_prompt_size_check_names_what_is_over_its_knob() -> None:
    text = {"type": "text", "text": "REPLY ok"}
    assert refusal_field({"parts": [text] * 4}) == "parts"
    assert refusal_field({"parts": [text, {"type": "text", "text": "x" * 101}]}) == "parts.1.text"
    assert refusal_field({"parts": [text], "system": "s" * 101}) == "system"
    assert refusal_field({"command": "init", "arguments": "a" * 101}) == "arguments"
    assert refusal_field({"agent": "build", "command": "c" * 101}) == "command"
    check_prompt_size({"parts": [text] * 3, "system": "s" * 100}, ServerConfig.build(env={}, **KNOBS))


@pytest.mark.parametrize(
    "body", [None, [], "text", {"parts": "not a list"}, {"parts": [1, None, {"text": 5}]}]
)
def test_shapes_the_body_validation_refuses_are_left_to_it(body: Any) -> None:
    check_prompt_size(body, ServerConfig.build(env={}, **KNOBS))
