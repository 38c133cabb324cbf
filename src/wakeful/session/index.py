"""The session index: the sessions this process knows, so that a prompt is accepted without a read.

A bounded cache (least recently used first out), never the source of truth. This process's own
writes keep it current: every save puts the session, a delete drops it. A miss reads the store and
fills the entry, so a session created by another process (a replica on the same database) is found
on its first prompt here. What another process changes later (a rename, a new permission ruleset, a
delete) reaches this index only when the entry is dropped: `forget` is the hook for a change feed,
and an entry leaves anyway once `size` newer ones have pushed it out. Whatever reads the index
therefore decides only what may be refused at once (an unknown session); a run reads its session
from the store again before it uses its permission rules.
"""

from __future__ import annotations

from collections import OrderedDict

from wakeful.wire.sessions import Session


class SessionIndex:
    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, Session] = OrderedDict()

    def get(self, session_id: str) -> Session | None:
        session = self._entries.get(session_id)
        if session is not None:
            self._entries.move_to_end(session_id)
        return session

    def put(self, session: Session) -> None:
        if self._size <= 0:
            return
        self._entries[session.id] = session
        self._entries.move_to_end(session.id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._entries)
