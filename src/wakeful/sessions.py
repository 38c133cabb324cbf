"""Sessions: the model (the reference's `Session`) and the service that stores and announces them.

Every write goes to the store and then publishes exactly one event.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from wakeful import OPENCODE_VERSION, ids
from wakeful.errors import InvalidRequestError, NotFoundError
from wakeful.events import EventBus
from wakeful.parts import Number, Wire
from wakeful.storage.base import SessionQuery, Store

_ADJECTIVES = (
    "brave calm eager happy jolly kind lucky merry proud quick quiet swift witty bold bright".split()
)
_NOUNS = "sailor falcon otter comet harbor maple river summit willow badger cedar lantern meadow".split()


def now_ms() -> int:
    return int(time.time() * 1000)


def project_id(directory: Path) -> str:
    return hashlib.sha1(os.fsencode(os.path.realpath(directory))).hexdigest()


class SessionModelRef(Wire):
    id: str
    providerID: str
    variant: str | None = None


class SessionTime(Wire):
    created: int
    updated: int
    compacting: int | None = None
    archived: float | None = None


class SessionTokens(Wire):
    input: Number = 0
    output: Number = 0
    reasoning: Number = 0
    cache: dict[str, Number] = Field(default_factory=lambda: dict[str, Number](read=0, write=0))


class Session(Wire):
    id: str
    slug: str
    projectID: str
    workspaceID: str | None = None
    directory: str
    path: str | None = None
    parentID: str | None = None
    summary: dict[str, Any] | None = None
    cost: Number | None = None
    tokens: SessionTokens | None = None
    share: dict[str, Any] | None = None
    title: str
    agent: str | None = None
    model: SessionModelRef | None = None
    version: str
    metadata: dict[str, Any] | None = None
    time: SessionTime
    permission: list[dict[str, Any]] | None = None
    revert: dict[str, Any] | None = None


class SessionCreate(Wire):
    parentID: str | None = Field(default=None, pattern=r"^ses")
    title: str | None = None
    agent: str | None = None
    model: SessionModelRef | None = None
    metadata: dict[str, Any] | None = None
    permission: list[dict[str, Any]] | None = None
    workspaceID: str | None = Field(default=None, pattern=r"^wrk")


class SessionArchive(Wire):
    archived: float | None = None


class SessionUpdate(Wire):
    title: str | None = None
    metadata: dict[str, Any] | None = None
    permission: list[dict[str, Any]] | None = None
    time: SessionArchive | None = None


class Sessions:
    def __init__(self, store: Store, bus: EventBus) -> None:
        self.store = store
        self.bus = bus

    async def _save(self, session: Session, event: str) -> Session:
        await self.store.put_session(session.wire())
        self.bus.publish(event, {"sessionID": session.id, "info": session.wire()})
        return session

    async def create(self, directory: Path, body: SessionCreate) -> Session:
        if body.parentID is not None:
            await self.get(body.parentID)
        created = now_ms()
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
        data = await self.store.get_session(session_id)
        if data is None:
            raise NotFoundError(f"Session not found: {session_id}")
        return Session.model_validate(data)

    async def list(self, query: SessionQuery) -> list[Session]:
        if query.limit < 0:
            raise InvalidRequestError("limit must not be negative", field="limit")
        return [Session.model_validate(s) for s in await self.store.list_sessions(query)]

    async def update(self, session_id: str, body: SessionUpdate) -> Session:
        session = await self.get(session_id)
        if body.title is not None:
            session.title = body.title
        if body.metadata is not None:
            session.metadata = body.metadata
        if body.permission is not None:
            session.permission = body.permission
        if body.time is not None and body.time.archived is not None:
            session.time.archived = body.time.archived
        session.time.updated = now_ms()
        return await self._save(session, "session.updated")

    async def touch(self, session: Session, **changes: Any) -> Session:
        for key, value in changes.items():
            setattr(session, key, value)
        session.time.updated = now_ms()
        return await self._save(session, "session.updated")

    async def delete(self, session_id: str) -> Session:
        session = await self.get(session_id)
        await self.store.delete_session(session_id)
        self.bus.publish("session.deleted", {"sessionID": session.id, "info": session.wire()})
        return session
