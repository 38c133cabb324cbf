"""The event bus behind `GET /event`.

Publishing never waits: each event goes into a bounded replay buffer and into each subscriber's
bounded queue. A subscriber that falls `queue_size` events behind gets one gap event and is closed,
so a stalled reader costs bounded memory. A client that reconnects with `Last-Event-ID` gets what it
missed from the replay buffer; an id the buffer no longer (or never) held gets one gap event.

The gap event is ours (the reference has none): `{"type": "server.gap", "properties": {"reason":
"unknown-id" | "overflow", "lastEventID": ...}}`. Heartbeats and `server.connected` carry no SSE
`id:` so that they never move a client's Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from wakeful import ids
from wakeful.telemetry.metrics import Metrics

GAP = "server.gap"
# One encoder for every frame: `json.dumps` with options builds a new one per call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Event:
    """One event. Once delivered it keeps only its frame (`settle`): the replay buffer holds
    thousands of events, and the few readers of a settled event's properties (a `/global/event`
    subscriber placing it, a replay) read them back from the frame."""

    __slots__ = ("_frame", "_properties", "id", "seq", "type")

    def __init__(self, id: str, type: str, properties: dict[str, Any], seq: int = 0) -> None:
        self.id = id
        self.type = type
        self.seq = seq  # 0: not replayable (connected, heartbeat, gap)
        self._properties: dict[str, Any] | None = properties
        self._frame: bytes | None = None

    @property
    def properties(self) -> dict[str, Any]:
        if self._properties is not None:
            return self._properties
        data: dict[str, Any] = json.loads(self._json())["properties"]
        return data

    def settle(self) -> None:
        """Keep only the frame from now on (built now if it was not yet)."""
        self._frame = self.frame
        self._properties = None

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "properties": self.properties}

    @property
    def frame(self) -> bytes:
        """The SSE frame of `GET /event`, encoded once however many subscribers send it. Only
        replayable events carry an `id:`, so heartbeats never move a client's Last-Event-ID."""
        frame = self._frame
        if frame is None:
            frame = self._frame = f"{self._head}data: {_encode(self.wire())}\n\n".encode()
        return frame

    def _json(self) -> bytes:
        """The event's JSON, as the frame carries it."""
        return self.frame[len(self._head) + len("data: ") : -2]

    def envelope_frame(self, directory: str | None) -> bytes:
        """The SSE frame of `GET /global/event`: `{"directory", "payload": <the event>}`, without
        `directory` for the server's own events (connected, heartbeat, gap), as the reference. The
        event's JSON is taken from `frame` (no second copy is kept in the replay buffer)."""
        where = "" if directory is None else f'"directory":{json.dumps(directory, ensure_ascii=False)},'
        return self._head.encode() + b"data: {" + where.encode() + b'"payload":' + self._json() + b"}\n\n"

    @property
    def _head(self) -> str:
        return f"id: {self.id}\n" if self.seq else ""


def make_event(type_: str, properties: dict[str, Any] | None = None) -> Event:
    return Event(id=ids.event_id(), type=type_, properties=properties or {})


@dataclass(eq=False)
class Subscription:
    queue_size: int
    _items: deque[Event] = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def push(self, event: Event) -> None:
        if self.closed:
            return
        if len(self._items) >= self.queue_size:
            self._items.clear()
            self._items.append(make_event(GAP, {"reason": "overflow", "lastEventID": event.id}))
            self.closed = True
        else:
            self._items.append(event)
        self._wakeup.set()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event; None on timeout. Raises StopAsyncIteration once closed and drained."""
        while not self._items:
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return None
        return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


class EventBus:
    def __init__(
        self,
        replay_size: int = 10_000,
        queue_size: int = 2_000,
        replay_bytes: int = 32 << 20,
        metrics: Metrics | None = None,
    ) -> None:
        self._replay: deque[Event] = deque()
        self._replay_size = replay_size
        self._replay_bytes = replay_bytes
        self._replay_used = 0
        self._seq = itertools.count(1)
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        self.closed = False
        # Replicas (run/replicas.py): every event published here is also handed to the others.
        self.forward: Callable[[Event], None] | None = None
        # Called with every event delivered here (this server's and other replicas'), before any
        # subscriber sees it: caches of stored state drop what an event says has changed.
        self.observers: list[Callable[[Event], None]] = []
        self._metrics = metrics
        if metrics is not None:
            metrics.event_subscribers.set_function(lambda: len(self._subscribers))

    def publish(self, type_: str, properties: dict[str, Any]) -> Event:
        return self._deliver(ids.event_id(), type_, properties, self.forward)

    def publish_remote(self, wire: dict[str, Any]) -> Event:
        """An event another replica published (`Event.wire()`): delivered here under its own id, so
        that a client's Last-Event-ID means the same on every replica, and not forwarded again."""
        return self._deliver(str(wire["id"]), str(wire["type"]), dict(wire["properties"]), None)

    def _deliver(
        self, id_: str, type_: str, properties: dict[str, Any], forward: Callable[[Event], None] | None
    ) -> Event:
        event = Event(id=id_, type=type_, properties=properties, seq=next(self._seq))
        # The replay buffer is bounded by count and by bytes: a few huge events (tool output) must
        # not pin memory.
        self._replay.append(event)
        self._replay_used += len(event.frame)
        while self._replay and (
            len(self._replay) > self._replay_size or self._replay_used > self._replay_bytes
        ):
            self._replay_used -= len(self._replay.popleft().frame)
        for observe in self.observers:
            observe(event)
        for sub in list(self._subscribers):
            was_open = not sub.closed
            sub.push(event)
            if sub.closed:
                self._subscribers.discard(sub)
                if was_open:  # this push overflowed it
                    self._gap("overflow")
        if forward is not None:
            forward(event)
        event.settle()
        return event

    def _gap(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.event_gaps.labels(reason).inc()

    def subscribe(self, last_event_id: str | None = None) -> Subscription:
        sub = Subscription(queue_size=self._queue_size)
        if last_event_id:
            missed = self._missed_since(last_event_id)
            if missed is None:
                sub.push(make_event(GAP, {"reason": "unknown-id", "lastEventID": last_event_id}))
                self._gap("unknown-id")
            else:
                for event in missed:
                    sub.push(event)
        if self.closed:
            sub.close()
        else:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        sub.close()

    def _missed_since(self, event_id: str) -> list[Event] | None:
        found = False
        out: list[Event] = []
        for event in self._replay:
            if found:
                out.append(event)
            elif event.id == event_id:
                found = True
        return out if found else None

    def close(self) -> None:
        """End every stream (shutdown): subscribers drain what they have, then stop."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.close()
        self._subscribers.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def stream(self, sub: Subscription, heartbeat: float) -> AsyncIterator[Event]:
        """Yield the subscription's events, and a `server.heartbeat` after `heartbeat` s of quiet."""
        try:
            while True:
                try:
                    event = await sub.next(timeout=heartbeat)
                except StopAsyncIteration:
                    return
                yield event if event is not None else make_event("server.heartbeat", {})
        finally:
            self.unsubscribe(sub)
