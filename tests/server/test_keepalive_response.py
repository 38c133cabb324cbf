"""The keep-alive response in-process, driven as an ASGI app: headers at once, one newline per
interval while the answer is pending, exactly one JSON document, disconnects and failures."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable
from typing import Any

import pytest

from wakeful.errors import InvalidRequestError
from wakeful.server.keepalive import DISCONNECTED, HEADER, KeepAliveResponse, requested_interval

Message = dict[str, Any]


class Wire:
    """A fake ASGI connection: records what the response sends; `until` waits for a condition."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.disconnect = asyncio.Event()
        self._changed = asyncio.Condition()

    async def send(self, message: Message) -> None:
        async with self._changed:
            self.sent.append(message)
            self._changed.notify_all()

    async def receive(self) -> Message:
        await self.disconnect.wait()
        return {"type": "http.disconnect"}

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), 10)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    @property
    def finished(self) -> bool:
        return any(m["type"] == "http.response.body" and not m.get("more_body") for m in self.sent)


def start(response: KeepAliveResponse, wire: Wire) -> asyncio.Task[None]:
    return asyncio.create_task(response({"type": "http"}, wire.receive, wire.send))


async def test_headers_leave_before_the_answer_then_newlines_then_one_json_document() -> None:
    answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    wire = Wire()
    task = start(KeepAliveResponse(answer, 0.001, headers={"X-Extra": "1"}), wire)
    await wire.until(lambda: len(wire.sent) >= 2)
    head = wire.sent[0]
    assert head["type"] == "http.response.start" and head["status"] == 200
    headers = dict(head["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert headers[HEADER.lower().encode()] == b"0.001"
    assert headers[b"x-extra"] == b"1"
    assert wire.sent[1] == {"type": "http.response.body", "body": b"", "more_body": True}

    await wire.until(lambda: wire.body.count(b"\n") >= 3)
    answer.set_result({"info": {"id": "msg_1"}, "parts": []})
    await task
    assert wire.finished
    body = wire.body
    assert set(body[: body.index(b"{")]) == {ord("\n")}
    assert json.loads(body) == {"info": {"id": "msg_1"}, "parts": []}


async def test_an_answer_ready_at_once_makes_a_body_that_starts_with_a_brace() -> None:
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    done.set_result({"ok": True})
    wire = Wire()
    await start(KeepAliveResponse(done, 60), wire)
    assert wire.body == b'{"ok":true}'


async def test_a_failed_answer_still_ends_with_a_complete_json_error_body() -> None:
    async def fails() -> Any:
        raise RuntimeError("store went away")

    wire = Wire()
    await start(KeepAliveResponse(fails(), 60), wire)
    assert json.loads(wire.body) == {"name": "UnknownError", "data": {"message": "store went away"}}


async def test_a_disconnect_leaves_a_watched_future_alone_and_tells_the_route(
    caplog: pytest.LogCaptureFixture,
) -> None:
    work: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    told: list[bool] = []
    wire = Wire()
    task = start(KeepAliveResponse(work, 0.001, on_disconnect=lambda: told.append(True)), wire)
    await wire.until(lambda: b"\n" in wire.body)
    wire.disconnect.set()
    await task
    assert told == [True]
    assert not wire.finished
    assert not work.cancelled()  # the run behind it goes on
    work.set_exception(RuntimeError("the run failed later"))
    del work
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_a_disconnect_cancels_a_coroutine_answer() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def answer() -> Any:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    wire = Wire()
    task = start(KeepAliveResponse(answer(), 0.001), wire)
    await started.wait()
    wire.disconnect.set()
    await task
    assert cancelled.is_set()


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, None), ("", None), (" 2.5 ", 2.5), ("0.05", 0.05)]
)
def test_requested_interval_parses_seconds(raw: str | None, expected: float | None) -> None:
    assert requested_interval(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "nan", "inf"])
def test_requested_interval_refuses_what_is_not_a_positive_number(raw: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        requested_interval(raw)
    assert info.value.field == HEADER


async def test_the_connections_gone_future_is_watched_instead_of_receive() -> None:
    """A server that says in the scope when the client is gone (wakeful's protocol) spares each held
    call a task of its own; the future outlives the call, which leaves no callback on it."""
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    told: list[bool] = []
    wire = Wire()

    async def never_received() -> Message:
        raise AssertionError("receive() is not watched when the scope has the connection's future")

    scope = {"type": "http", DISCONNECTED: gone}
    response = KeepAliveResponse(asyncio.get_running_loop().create_future(), 0.001, on_disconnect=lambda: told.append(True))
    task = asyncio.create_task(response(scope, never_received, wire.send))
    await wire.until(lambda: b"\n" in wire.body)
    gone.set_result(None)
    await task
    assert told == [True] and not wire.finished

    answered = KeepAliveResponse(_done({"ok": 1}), 60)
    later = Counted()
    wire = Wire()
    await answered({"type": "http", DISCONNECTED: later}, never_received, wire.send)
    assert wire.body == b'{"ok":1}'
    assert later.callbacks == 0 and not later.done()


class Counted(asyncio.Future[None]):
    """A future that counts the callbacks left on it."""

    def __init__(self) -> None:
        super().__init__()
        self.callbacks = 0

    def add_done_callback(self, fn: Any, *, context: Any = None) -> None:
        self.callbacks += 1
        super().add_done_callback(fn, context=context)

    def remove_done_callback(self, fn: Any) -> int:
        removed = super().remove_done_callback(fn)
        self.callbacks -= removed
        return removed


def _done(value: Any) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future
