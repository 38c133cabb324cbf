"""The HTTP protocol wakeful serves with: uvicorn's httptools protocol, plus deadlines for receiving a
request, and refusals in wakeful's JSON error bodies.

uvicorn closes a keep-alive connection that stays idle between requests, but once a request's first
byte has arrived it waits for the rest forever: a client that sends a header byte per second holds
its connection indefinitely, and enough of them hold every file descriptor. Here a request must
arrive in time: its head within `header_timeout` seconds of its first byte (or of the connection
being made), its body within `body_timeout` seconds of the head. Once a request is in, nothing is
timed: a held call may answer an hour later, its keep-alive bytes as far apart as it asked.

The head is also bounded in size (`header_max_bytes`, counted as it arrives): the parser would
otherwise keep a header of any length in memory until its end.

A connection also costs less here than in uvicorn: a held call keeps its connection's objects for
as long as it is held, and a thousand held calls keep a thousand of them. uvicorn gives each
connection a deque (its pipeline) and two asyncio events (each with a deque of waiters), and a
deque is 0.7 KiB however empty; here they are lists (`_Pipeline`, `_Event`), which is 2.2 KiB less
per held call (docs/benchmarks.md, issue 18).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from wakeful.config import ServerConfig
from wakeful.errors import HeadersTooLargeError, InvalidRequestError, RequestError, RequestTimeoutError
from wakeful.server.keepalive import DISCONNECTED


class _Pipeline(list[Any]):
    """uvicorn's pipeline queue (it calls `appendleft`, `pop` and `bool`), nearly always empty."""

    __slots__ = ()

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)


class _Event(asyncio.Event):
    """An asyncio event whose waiters are a list: asyncio's Event only appends, removes and walks
    them, and has one or no waiter here."""

    def __init__(self, is_set: bool = False) -> None:
        super().__init__()
        self._waiters = []  # type: ignore[assignment]
        if is_set:
            self.set()


class DeadlineProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    body_timeout = 60.0
    header_max_bytes = 64 << 10
    # One timer per connection, moved lazily: a request arms and disarms its deadline three times,
    # and with thousands of connections each new timer is a push onto the loop's heap and each
    # cancelled one a dead entry in it. The timer fires at the earliest deadline ever set and then
    # acts on the deadline of the moment: none, a later one (it waits again), or this one.
    # Slots: uvicorn's protocol has nearly 30 attributes, and past 30 Python gives an instance a
    # dict of its own instead of the class's shared keys (1.6 KiB per connection, not 0.3).
    __slots__ = ("_due", "_expire", "_gone", "_head_bytes", "_timer", "_timer_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipeline = _Pipeline()  # type: ignore[assignment]
        self._due: float | None = None
        self._expire: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._head_bytes: int | None = 0  # bytes of the current request's head so far; None once in
        self._gone: asyncio.Future[None] | None = None  # done once the client is gone (DISCONNECTED)

    def _arm(self, seconds: float, expire: Callable[[], None]) -> None:
        self._due = self.loop.time() + seconds
        self._expire = expire
        if self._timer is None or self._timer_at > self._due:
            self._wait_until(self._due)

    def _wait_until(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        self._timer = None
        due, expire = self._due, self._expire
        if due is None or expire is None:
            return
        if due - self.loop.time() > 0.01:  # the loop may run a timer a little early: not that early
            self._wait_until(due)
            return
        self._due = self._expire = None
        expire()

    def _disarm(self) -> None:
        self._due = self._expire = None

    def _refuse(self, error: RequestError) -> None:
        """Answer `error` in wakeful's JSON body and close; only close while an earlier request's
        response is still going out (a pipelined request), whose bytes an answer would corrupt."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()
            return
        body = error.body().render()
        head = [STATUS_LINE[error.status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _head_late(self) -> None:
        if self.transport.is_closing():
            return
        if self._head_bytes:
            self._refuse(RequestTimeoutError(f"The request head took over {self.header_timeout:g} s"))
        else:
            self.transport.close()  # no request began: nobody to answer

    def _body_late(self) -> None:
        # The app is reading the body (or a response is already out): closing is all that is left.
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._gone = self.loop.create_future()
        self.flow._is_writable_event = _Event(self.flow._is_writable_event.is_set())
        self._arm(self.header_timeout, self._head_late)

    def _head_too_large(self) -> None:
        self._refuse(HeadersTooLargeError(f"The request head is over {self.header_max_bytes} bytes"))

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A head still incomplete after this many bytes is refused now (a complete one is measured
        # exactly in on_headers_complete); memory stays within the limit plus one read.
        if self._head_bytes is not None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.header_max_bytes:
                self._head_too_large()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        cast(dict[str, Any], self.scope)[DISCONNECTED] = self._gone
        self._head_bytes = 0
        self._arm(self.header_timeout, self._head_late)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        if len(self.url) + sum(len(k) + len(v) + 4 for k, v in self.headers) > self.header_max_bytes:
            self._head_too_large()
            # Stops the parser before the request starts; uvicorn takes it for a parse error, and
            # send_400_response finds the connection already answered and closing.
            raise ValueError("request head over the limit")
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not an upgrade, which makes no cycle
            # Nothing waits on it yet: the request's task has not run, and its body is to come.
            cycle.message_event = _Event(cycle.message_event.is_set())
        if self.pipeline:
            # Queued behind a response still going out (which may be a held call): its body is
            # timed when it starts, in on_response_complete.
            self._disarm()
        else:
            self._arm(self.body_timeout, self._body_late)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if not self.pipeline and cycle is not None and not cycle.response_complete and cycle.more_body:
            self._arm(self.body_timeout, self._body_late)

    def send_400_response(self, msg: str) -> None:
        del msg  # always uvicorn's "Invalid HTTP request received."
        if not self.transport.is_closing():
            self._refuse(InvalidRequestError("The request is not valid HTTP/1.1"))


def http_protocol(config: ServerConfig) -> type[DeadlineProtocol]:
    """The protocol class for uvicorn's `http` option, with the config's deadlines and head limit."""
    limits = {
        "header_timeout": config.header_timeout,
        "body_timeout": config.body_timeout,
        "header_max_bytes": config.header_max_bytes,
    }
    return type("WakefulHTTPProtocol", (DeadlineProtocol,), limits)
