"""Sessions on the wire: the reference's `Session`, and the bodies that create and update one."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from wakeful.wire.base import Number, SessionIDText, Wire, WorkspaceIDText
from wakeful.wire.permissions import PermissionRule


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
    permission: list[PermissionRule] | None = None
    revert: dict[str, Any] | None = None


class SessionCreate(Wire):
    parentID: SessionIDText | None = None
    title: str | None = None
    agent: str | None = None
    model: SessionModelRef | None = None
    metadata: dict[str, Any] | None = None
    permission: list[PermissionRule] | None = None
    workspaceID: WorkspaceIDText | None = None


class SessionArchive(Wire):
    archived: float | None = None


class SessionUpdate(Wire):
    title: str | None = None
    metadata: dict[str, Any] | None = None
    permission: list[PermissionRule] | None = None
    time: SessionArchive | None = None
