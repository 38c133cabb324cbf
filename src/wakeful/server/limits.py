"""Size limits on what a request may carry (docs/security.md lists each with its knob).

`BodyLimit` refuses a body over `body_max_bytes` with 413 without ever holding it; `check_prompt`
refuses a prompt with too many parts or too long a text before its body is validated, because
validating a hundred thousand parts would hold the event loop for seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wakeful.config import ServerConfig
from wakeful.errors import InvalidRequestError, PayloadTooLargeError
from wakeful.server.deps import runtime_of
from wakeful.server.middleware import header, send_error
from wakeful.server.routing import WireRequest

# The strings of a run's body that end up in its history, each bounded by `text_max_chars`.
TEXT_FIELDS = ("system", "arguments", "command")


class BodyLimit:
    """Refuses (413) a request body over `max_bytes`, counted from `Content-Length` before anything
    is read, and byte by byte for a body without one.

    Clients such as httpx, requests and curl write the whole body before they read an answer; a
    server that answers and closes while body bytes are still arriving makes the kernel reset the
    connection, and the client sees that instead of the 413. So the rest of the body is read and
    dropped first, for at most `drain_seconds`. A client that sent `Expect: 100-continue` has not
    sent its body and gets the 413 at once."""

    def __init__(self, app: ASGIApp, max_bytes: int, drain_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_seconds = drain_seconds

    def _error(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"The request body is over {self.max_bytes} bytes", field="body")

    async def _drain(self, receive: Receive) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.drain_seconds):
                while True:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body", False):
                        return

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine, as AllowedHosts: a held call keeps no frame of this middleware.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return self._refuse(scope, receive, send)
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if message.get("more_body", False):
                        await self._drain(receive)
                    # Raised inside the app's body read; the error handlers answer it as a 413.
                    raise HTTPException(413, self._error().message)
            return message

        return self.app(scope, receive_within_limit, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (header(scope, b"expect") or b"").lower() != b"100-continue":
            await self._drain(receive)
        await send_error(send, self._error(), close=True)


def _too_long(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) > limit


def check_prompt_size(body: Any, config: ServerConfig) -> None:
    """At most `prompt_parts_max` parts; every text part, and the body's `system`, `arguments` or
    `command`, at most `text_max_chars` characters. `body` is the raw JSON: what is not the
    expected shape is left to the body's validation."""
    if not isinstance(body, dict):
        return
    parts = body.get("parts")
    if isinstance(parts, list):
        if len(parts) > config.prompt_parts_max:
            raise InvalidRequestError(
                f"parts: at most {config.prompt_parts_max} parts per message", field="parts"
            )
        for index, part in enumerate(parts):
            if isinstance(part, dict) and _too_long(part.get("text"), config.text_max_chars):
                field = f"parts.{index}.text"
                raise InvalidRequestError(f"{field}: at most {config.text_max_chars} characters", field=field)
    for field in TEXT_FIELDS:
        if _too_long(body.get(field), config.text_max_chars):
            raise InvalidRequestError(f"{field}: at most {config.text_max_chars} characters", field=field)


async def prompt_size(request: Request) -> None:
    """The dependency of the routes that start a run: `check_prompt_size` on the JSON the route's
    handler has already decoded (FastAPI solves dependencies before it validates the body)."""
    assert isinstance(request, WireRequest), "every route is a WireRoute"
    check_prompt_size(request.decoded(), runtime_of(request).config)
