"""The session service: stores sessions and announces them.

Every write goes to the store and then publishes one event for each session it changed (one, except
a delete, which removes a whole subtree).
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import os
import secrets
import weakref
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wakeful import ids
from wakeful.errors import InvalidRequestError, NotFoundError
from wakeful.session.bus import EventBus
from wakeful.session.index import SessionIndex
from wakeful.storage.base import ProjectRecord, SessionQuery, SessionStore
from wakeful.version import OPENCODE_VERSION
from wakeful.wire.sessions import Session, SessionCreate, SessionTime, SessionTokens, SessionUpdate

_ADJECTIVES = (
    "brave calm eager happy jolly kind lucky merry proud quick quiet swift witty bold bright".split()
)
_NOUNS = "sailor falcon otter comet harbor maple river summit willow badger cedar lantern meadow".split()


def project_id(directory: Path) -> str:
    return hashlib.sha1(os.fsencode(os.path.realpath(directory))).hexdigest()


class Sessions:
    """Changes to a stored session are read-modify-write; each runs under its session's lock, so a
    rename and a prompt's touch arriving together both land.

    While this server is the only one writing its sessions (`written_limit` > 0; replicas set it to
    0), the last `written_limit` sessions it wrote are kept as written, and a read of one of them is
    answered from that copy, which is then the store's: every write and delete of a session goes
    through here, a kept copy is replaced only once its write is committed, and dropped when a write
    or delete fails or is cancelled (it may have landed or not)."""

    def __init__(self, store: SessionStore, bus: EventBus, index_size: int) -> None:
        self._store = store
        self.bus = bus
        self.index = SessionIndex(index_size)
        # Weak: a lock lives while some change holds or awaits it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._written: OrderedDict[str, dict[str, Any]] = OrderedDict()  # id -> wire, as stored
        self.written_limit = index_size

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    async def _save(self, session: Session, event: str) -> Session:
        data = session.wire()
        try:
            await self._store.put_session(data)
        except BaseException:
            self._written.pop(session.id, None)
            raise
        if self.written_limit > 0:
            self._written[session.id] = data
            self._written.move_to_end(session.id)
            while len(self._written) > self.written_limit:
                self._written.popitem(last=False)
        self.index.put(session)
        self.bus.publish(event, {"sessionID": session.id, "info": session.wire()})
        return session

    async def create(self, directory: Path, body: SessionCreate) -> Session:
        if body.parentID is not None:
            await self.get(body.parentID)
        created = ids.now_ms()
        stamp = datetime.fromtimestamp(created / 1000, UTC).isoformat(timespec="milliseconds")
        stamp = stamp.replace("+00:00", "Z")
        prefix = "Child session" if body.parentID else "New session"
        session = Session(
            id=ids.session_id(),
            slug=f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}",
            projectID=project_id(directory),
            directory=str(directory),
            path="",
            parentID=body.parentID,
            workspaceID=body.workspaceID,
            cost=0,
            tokens=SessionTokens(),
            title=body.title if body.title is not None else f"{prefix} - {stamp}",
            agent=body.agent,
            model=body.model,
            version=OPENCODE_VERSION,
            metadata=body.metadata,
            permission=body.permission,
            time=SessionTime(created=created, updated=created),
        )
        return await self._save(session, "session.created")

    async def get(self, session_id: str) -> Session:
        """The session as stored now (read-modify-write starts here)."""
        data = self._written.get(session_id)
        if data is None:
            data = await self._store.get_session(session_id)
        if data is None:
            self.index.forget(session_id)
            raise NotFoundError(f"Session not found: {session_id}")
        return Session.model_validate(data)

    async def lookup(self, session_id: str) -> Session:
        """The session from the index (`session.index`), read from the store on a miss: what a
        prompt checks before its headers. Possibly older than the store; never for a write."""
        session = self.index.get(session_id)
        if session is None:
            session = await self.get(session_id)
            self.index.put(session)
        return session

    async def list(self, query: SessionQuery) -> builtins.list[Session]:
        if query.limit < 0:
            raise InvalidRequestError("limit must not be negative", field="limit")
        return [Session.model_validate(s) for s in await self._store.list_sessions(query)]

    async def update(self, session_id: str, body: SessionUpdate) -> Session:
        async with self._lock(session_id):
            session = await self.get(session_id)
            if body.title is not None:
                session.title = body.title
            if body.metadata is not None:
                session.metadata = body.metadata
            if body.permission is not None:
                session.permission = body.permission
            if body.time is not None and body.time.archived is not None:
                session.time.archived = body.time.archived
            session.time.updated = ids.now_ms()
            return await self._save(session, "session.updated")

    async def touch(self, session_id: str) -> Session | None:
        """Mark the session as changed now (a prompt arrived, a run ended): `time.updated` moves
        and `session.updated` is announced, as for every other change. None if it is gone."""
        async with self._lock(session_id):
            try:
                session = await self.get(session_id)
            except NotFoundError:
                return None
            session.time.updated = max(ids.now_ms(), session.time.updated + 1)
            return await self._save(session, "session.updated")

    async def projects(self) -> builtins.list[ProjectRecord]:
        return await self._store.projects()

    async def subtree(self, session_id: str) -> builtins.list[Session]:
        """The session and all its descendants, deepest first (each before its parent)."""
        found = [Session.model_validate(s) for s in await self._store.session_tree(session_id)]
        if not found:
            raise NotFoundError(f"Session not found: {session_id}")
        return found

    async def delete(self, session_id: str) -> builtins.list[Session]:
        """Delete the session with all its descendants and everything they hold, at once; announce
        `session.deleted` for each, deepest first. Stop their runs before: a run still writing
        would store into a session that no longer exists."""
        try:
            stored = await self._store.delete_session_tree(session_id)
        except BaseException:
            self._written.clear()  # which of the subtree's sessions are gone is not known
            raise
        removed = [Session.model_validate(s) for s in stored]
        for session in removed:
            self.index.forget(session.id)
            self._written.pop(session.id, None)
        if not removed:
            raise NotFoundError(f"Session not found: {session_id}")
        for session in removed:
            self.bus.publish("session.deleted", {"sessionID": session.id, "info": session.wire()})
        return removed
