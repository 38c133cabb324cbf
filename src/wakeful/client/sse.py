"""`GET /event` on the client side: decoding the SSE stream and resuming it without repeats.

The server gives every replayable event an SSE `id:`; a reconnect that sends the last one as
`Last-Event-ID` gets what it missed. The cursor remembers recent ids, so an event delivered twice
(by a replay that overlaps what already arrived) is yielded once. When the server cannot replay
(`server.gap` with reason `unknown-id`), the iterator yields a `Gap`: events were lost, and the
caller should re-read state (e.g. `messages()`) instead of trusting the stream alone.
`Subscription` is all of `events()` but its I/O, which `Client` and `AsyncClient` perform.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from wakeful.client.core import BROKEN, Send, Settings
from wakeful.client.errors import ConnectionLost, ServiceUnavailable

CONTROL = ("server.connected", "server.heartbeat")
GAP = "server.gap"


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    properties: dict[str, Any]
    replayable: bool  # it had an SSE id: a reconnect resumes after it

    @property
    def session_id(self) -> str | None:
        value = self.properties.get("sessionID")
        return value if isinstance(value, str) else None

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "properties": self.properties}


@dataclass(frozen=True)
class Gap:
    """Events were lost between `last_event_id` and what follows."""

    reason: str
    last_event_id: str | None

    def wire(self) -> dict[str, Any]:
        return {
            "type": "client.gap",
            "properties": {"reason": self.reason, "lastEventID": self.last_event_id},
        }


@dataclass(frozen=True)
class Message:
    id: str | None
    data: str


class Decoder:
    """SSE lines in, messages out (only `id:` and `data:` matter here; comments are skipped)."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._data: list[str] = []

    def feed(self, line: str) -> Message | None:
        if line == "":
            if not self._data:
                self._id = None
                return None
            message = Message(self._id, "\n".join(self._data))
            self._id, self._data = None, []
            return message
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None


class Cursor:
    """Where a subscriber is in the stream, and which events it has already had."""

    def __init__(
        self, last_event_id: str | None = None, *, control: bool = False, memory: int = 10_000
    ) -> None:
        self.last_event_id = last_event_id
        self.control = control
        self._seen: set[str] = set()
        self._order: deque[str] = deque()
        self._memory = memory
        self.progressed = False

    def headers(self) -> dict[str, str]:
        return {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}

    def accept(self, message: Message) -> Event | Gap | None:
        """What to yield for this message (None: nothing)."""
        try:
            data = json.loads(message.data)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return None
        kind: str = data["type"]
        # Anything but `server.connected` proves the stream works (a draining server sends that
        # one and closes the stream at once): the reconnect budget starts again.
        self.progressed = self.progressed or kind != "server.connected"
        raw = data.get("properties")
        properties: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if kind == GAP:
            # An overflow gap comes right before the server closes the stream; the reconnect with
            # our Last-Event-ID replays what the overflow dropped, so nothing is lost (yet). Only a
            # failed replay is a real gap.
            if properties.get("reason") == "overflow":
                return None
            return Gap(str(properties.get("reason", "unknown")), self.last_event_id)
        if kind in CONTROL and not self.control:
            return None
        event_id = message.id or str(data.get("id", ""))
        if message.id:
            if message.id in self._seen:
                return None
            self._remember(message.id)
            self.last_event_id = message.id
        return Event(event_id, kind, properties, replayable=bool(message.id))

    def _remember(self, event_id: str) -> None:
        self._seen.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._memory:
            self._seen.discard(self._order.popleft())


# What ends one connection of `events()` but not the iteration: it reconnects.
RECONNECT = (*BROKEN, ServiceUnavailable)


class Subscription:
    """One `events()` iteration without its I/O: the request of each connection, the item each line
    brings, and the pause before reconnecting. The budget of reconnects in a row starts again
    whenever a connection made progress."""

    def __init__(self, settings: Settings, last_event_id: str | None, *, control: bool) -> None:
        self.settings = settings
        self.cursor = Cursor(last_event_id, control=control)
        self.failures = 0
        self._decoder = Decoder()
        self._error: BaseException | None = None

    def connect(self) -> Send:
        """The request of the next connection: it resumes after the last event yielded."""
        self._decoder = Decoder()
        self.cursor.progressed = False
        headers = {"Accept": "text/event-stream", **self.cursor.headers()}
        return Send("GET", "/event", headers=headers, read_timeout=self.settings.events_silence)

    def feed(self, line: str) -> Event | Gap | None:
        """What to yield for this line of the stream (None: nothing)."""
        message = self._decoder.feed(line)
        return None if message is None else self.cursor.accept(message)

    def broke(self, error: BaseException) -> None:
        """The current connection failed with `error` (one of RECONNECT)."""
        self._error = error

    def pause(self) -> float:
        """The pause before reconnecting once a connection ended (broken, or closed by the server);
        raises ConnectionLost when the budget is spent."""
        error, self._error = self._error, None
        self.failures = 1 if self.cursor.progressed else self.failures + 1
        if self.failures > self.settings.retries:
            cause = f"{type(error).__name__}: {error}" if error else "the stream kept closing"
            raise ConnectionLost(f"GET /event: {cause} (after {self.failures} attempts)") from error
        if isinstance(error, ServiceUnavailable) and error.retry_after:
            return min(self.settings.max_backoff, error.retry_after)
        return self.settings.delay(self.failures)
