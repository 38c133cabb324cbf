"""The end of each session's message log as last read, kept for the session's next run.

A run shows the model its session's history. Without this, every prompt of a long session would
read, decode and convert the whole session again; with it, a run reads only the messages stored
since the last one (`MessageStore.messages_after`) and reuses what was derived from the others
(`derived`: a run's chat messages and token estimates).

Invariants:
- A kept message is exactly as stored. Every write to a message publishes an event naming it
  (`message.updated`, `message.part.updated`, `message.removed`, `message.part.removed`), and the
  bus hands every event to `observe` before anyone else sees it: the message named, and every later
  one of its session, are dropped (`session.deleted` and `session.compacted` drop the session).
- A read under way when such an event arrives may have read before that write: it is not kept, and
  its caller gets a fresh read of the whole range.
- Kept entries are shared by every reader: nobody changes them (copy first).
- What a reader derived from a session's kept messages as a whole (`memo`) is forgotten whenever
  one of them is dropped; while the tail only grows, it stays, and it describes a prefix of the
  entries (a reader checks which, by identity: it may also have been made from a read not kept).
- At most `limit` messages are kept, the least recently read sessions going first; 0 keeps none.
  Replicas on one database hear each other's writes late, so they keep none (`run.runtime`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wakeful.session.bus import Event
from wakeful.storage.base import MessageStore

T = TypeVar("T")
Entry = dict[str, Any]  # a stored message: {"info": ..., "parts": [...]}

# The events of a write to one message, and where each names that message.
_MESSAGE_EVENTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "message.updated": lambda p: str(p["info"]["id"]),
    "message.part.updated": lambda p: str(p["part"]["messageID"]),
    "message.removed": lambda p: str(p["messageID"]),
    "message.part.removed": lambda p: str(p["messageID"]),
}
_SESSION_EVENTS = frozenset({"session.deleted", "session.compacted"})


@dataclass
class _Tail:
    """A session's messages from some point to its end, as read."""

    entries: list[Entry]
    whole: bool  # the entries begin at the session's first message
    positions: dict[str, int] = field(default_factory=dict)  # message id -> index in `entries`
    derived: dict[str, dict[Callable[[Entry], Any], Any]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)  # see `RecentMessages.memo`

    def __post_init__(self) -> None:
        self.positions = {e["info"]["id"]: i for i, e in enumerate(self.entries)}


class _Read:
    __slots__ = ("stale",)

    def __init__(self) -> None:
        self.stale = False


class RecentMessages:
    def __init__(self, store: MessageStore, limit: int) -> None:
        self._store = store
        self.limit = limit
        self._tails: OrderedDict[str, _Tail] = OrderedDict()
        self._kept = 0  # messages in `_tails`
        self._reads: dict[str, set[_Read]] = {}  # reads under way, per session

    async def tail(self, session_id: str, enough: Callable[[list[Entry]], bool], page: int) -> list[Entry]:
        """The end of the session's messages in insertion order, reaching back a page at a time
        until `enough(messages)` or the session's first message."""
        read = _Read()
        self._reads.setdefault(session_id, set()).add(read)
        try:
            kept = self._tails.get(session_id)
            messages, whole, extended = await self._read(session_id, enough, page, kept)
            if read.stale:
                messages, whole, _ = await self._read(session_id, enough, page, None)
            else:
                self._keep(session_id, messages, whole, extended)
            return messages
        finally:
            reads = self._reads[session_id]
            reads.discard(read)
            if not reads:
                del self._reads[session_id]

    async def _read(
        self, session_id: str, enough: Callable[[list[Entry]], bool], page: int, kept: _Tail | None
    ) -> tuple[list[Entry], bool, list[Entry] | None]:
        """(messages, whether they begin at the session's first one, the kept entries they begin
        with when they are those and the newer ones only)."""
        extended = None
        messages: list[Entry] | None = None
        whole = False
        if kept is not None:
            base, whole = kept.entries, kept.whole  # `observe` replaces the list, never changes it
            newer = await self._store.messages_after(session_id, base[-1]["info"]["id"])
            if newer is not None:
                messages, extended = base + newer, base
        if messages is None:
            messages = await self._store.list_messages(session_id, limit=page)
            whole = len(messages) < page
        while not whole and not enough(messages):
            older = await self._store.list_messages(session_id, limit=page, before=messages[0]["info"]["id"])
            whole = len(older) < page
            messages, extended = older + messages, None
        return messages, whole, extended

    def _keep(
        self, session_id: str, messages: list[Entry], whole: bool, extended: list[Entry] | None
    ) -> None:
        old = self._tails.pop(session_id, None)
        if old is not None:
            self._kept -= len(old.entries)
        if not messages or len(messages) > self.limit:
            return
        if old is not None and old.entries is extended:
            tail = old  # the same entries and more after them: extended in place
            for i in range(len(old.entries), len(messages)):
                tail.positions[messages[i]["info"]["id"]] = i
            tail.entries, tail.whole = messages, whole
        else:
            tail = _Tail(messages, whole)
            if old is not None:  # what was derived from the entries both hold is still true
                tail.derived = {mid: d for mid, d in old.derived.items() if self._same(old, tail, mid)}
        self._tails[session_id] = tail
        self._kept += len(messages)
        while self._kept > self.limit:
            _, evicted = self._tails.popitem(last=False)
            self._kept -= len(evicted.entries)

    @staticmethod
    def _same(old: _Tail, new: _Tail, message_id: str) -> bool:
        i, j = old.positions.get(message_id), new.positions.get(message_id)
        return i is not None and j is not None and old.entries[i] is new.entries[j]

    def derived(self, session_id: str, entry: Entry, make: Callable[[Entry], T]) -> T:
        """`make(entry)`, computed once for as long as `entry` (one that `tail` gave) is kept."""
        tail = self._tails.get(session_id)
        mid = entry["info"]["id"]
        index = tail.positions.get(mid) if tail is not None else None
        if tail is None or index is None or tail.entries[index] is not entry:
            return make(entry)
        memo = tail.derived.setdefault(mid, {})
        if make not in memo:
            memo[make] = make(entry)
        value: T = memo[make]
        return value

    def memo(self, session_id: str) -> dict[str, Any] | None:
        """A place for what a reader derived from the session's kept messages together (the
        module's invariants say how long it lasts); None when nothing is kept for the session."""
        tail = self._tails.get(session_id)
        return None if tail is None else tail.memo

    def observe(self, event: Event) -> None:
        """Drop what `event` says has changed (see the module's invariants)."""
        name = _MESSAGE_EVENTS.get(event.type)
        if name is None and event.type not in _SESSION_EVENTS:
            return
        session_id = event.properties.get("sessionID")
        if not isinstance(session_id, str):
            return
        for read in self._reads.get(session_id, ()):
            read.stale = True
        tail = self._tails.get(session_id)
        if tail is None:
            return
        index = 0 if name is None else tail.positions.get(name(event.properties))
        if index is None:
            return  # a message the tail does not hold: newer ones are read when asked for
        dropped = tail.entries[index:]
        self._kept -= len(dropped)
        if index == 0:
            del self._tails[session_id]
            return
        tail.entries = tail.entries[:index]
        tail.memo = {}
        for entry in dropped:
            mid = entry["info"]["id"]
            del tail.positions[mid]
            tail.derived.pop(mid, None)
