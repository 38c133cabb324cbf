"""The keep-alive response: a JSON answer that may take an hour, and never goes silent.

The status line and headers leave at once (an empty body message follows the start, because some
ASGI servers hold headers until the first body bytes). While the answer is pending, one `"\\n"` goes
out per interval; JSON parsers skip leading whitespace, so the body stays exactly one JSON document.
An answer ready within the first interval makes a body that starts with `{`. The response only waits
on the answer: a client that disconnects does not cancel the work (unless the route asks for that),
and an exception ends the body with a well-formed error object instead of a truncated body.
While open it counts in the `wakeful_held_calls` gauge, and each keep-alive byte reports how late it
left (a late byte means a busy or stalled event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from wakeful.errors import InvalidRequestError, UnknownRunError
from wakeful.telemetry.metrics import Metrics

log = logging.getLogger("wakeful.keepalive")

HEADER = "X-Keepalive-Interval"
# The scope key of a future that is done once the client has gone (server/protocol.py puts it there).
DISCONNECTED = "wakeful.disconnected"


def requested_interval(raw: str | None) -> float | None:
    """Parse the request's `X-Keepalive-Interval` header (seconds)."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequestError(f"{HEADER} must be a number of seconds", field=HEADER) from None
    if not value > 0 or value != value or value == float("inf"):
        raise InvalidRequestError(f"{HEADER} must be a positive number of seconds", field=HEADER)
    return value


# The same for every held call; a thousand held calls share them.
_FIXED = (
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
)


@functools.lru_cache(maxsize=64)
def _interval_header(interval: float) -> tuple[bytes, bytes]:
    return HEADER.lower().encode(), f"{interval:g}".encode()


def _header_list(interval: float, extra: dict[str, str]) -> list[tuple[bytes, bytes]]:
    given = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    names = {name for name, _ in given}
    return [h for h in (*_FIXED, _interval_header(interval)) if h[0] not in names] + given


class KeepAliveResponse(Response):
    """`answer` is a coroutine the response runs (and cancels if the client leaves first), or a
    future it only watches: whoever made that owns the work behind it, which a client that leaves
    never cancels."""

    media_type = "application/json"

    def __init__(
        self,
        answer: Awaitable[Any],
        interval: float,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        on_disconnect: Callable[[], Any] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.answer = answer
        self.interval = interval
        self.status_code = status_code
        self.on_disconnect = on_disconnect
        self.metrics = metrics
        self.background = None
        self.body = b""
        self.raw_headers = _header_list(interval, headers or {})

    @staticmethod
    async def _disconnected(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics
        if metrics is not None:
            metrics.held_calls.inc()
        try:
            await self._hold(scope, receive, send, metrics)
        finally:
            if metrics is not None:
                metrics.held_calls.dec()

    async def _hold(self, scope: Scope, receive: Receive, send: Send, metrics: Metrics | None) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        owned = not asyncio.isfuture(self.answer)
        answer: asyncio.Future[Any] = asyncio.ensure_future(self.answer)
        # The connection's own "gone" future when the server gives one (wakeful's protocol does):
        # a thousand held calls then keep no task (and its frames) each, watching receive().
        watched: asyncio.Future[Any] | None = scope.get(DISCONNECTED)
        gone = watched if watched is not None else asyncio.create_task(self._disconnected(receive))
        loop = asyncio.get_running_loop()
        # One future and one timer per interval, woken early by the answer or the disconnect: with
        # thousands of held calls this wait is most of what the server does (asyncio.wait would
        # build sets and add and remove callbacks on both futures every time).
        tick: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not tick.done():
                tick.set_result(None)

        answer.add_done_callback(wake)
        gone.add_done_callback(wake)
        try:
            while True:
                due = loop.time() + self.interval
                timer = loop.call_at(due, wake)
                try:
                    await tick
                finally:
                    timer.cancel()
                if answer.done():
                    await send({"type": "http.response.body", "body": self._final(answer), "more_body": False})
                    return
                if gone.done():
                    if self.on_disconnect is not None:
                        self.on_disconnect()
                    return
                tick = loop.create_future()
                if metrics is not None:
                    metrics.keepalive_lateness.observe(max(0.0, loop.time() - due))
                await send({"type": "http.response.body", "body": b"\n", "more_body": True})
        finally:
            answer.remove_done_callback(wake)
            gone.remove_done_callback(wake)  # a connection's future outlives each of its requests
            if watched is None:
                gone.cancel()
            if not answer.done():
                if owned:
                    answer.cancel()
                else:  # its failure is nobody's to report now: not "never retrieved" either
                    answer.add_done_callback(_retrieved)
            if watched is None:
                with contextlib.suppress(BaseException):
                    await gone

    @staticmethod
    def _final(answer: asyncio.Future[Any]) -> bytes:
        try:
            value = answer.result()
        except asyncio.CancelledError:
            value = UnknownRunError("The run was cancelled").to_info()
        except Exception as exc:
            log.exception("answer failed after the response started")
            value = UnknownRunError(str(exc) or type(exc).__name__).to_info()
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _retrieved(answer: asyncio.Future[Any]) -> None:
    if not answer.cancelled():
        answer.exception()
