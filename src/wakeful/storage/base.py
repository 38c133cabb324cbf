"""The Store seam: everything wakeful persists goes through this protocol.

Records are plain JSON-able dicts in the reference's wire shapes; the store adds an insertion
sequence and orders by it (never by id: ids wrap and clients choose their own message ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class RunRecord:
    """One accepted prompt (or command, or shell call), keyed by its user message id."""

    message_id: str
    session_id: str
    kind: str  # "prompt" | "command" | "shell"
    body_hash: str
    status: str = "queued"  # queued | running | done
    instance: str = ""
    pgids: list[int] = field(default_factory=list)
    created: int = 0


@dataclass
class SessionQuery:
    project_id: str | None = None
    roots: bool = False
    search: str | None = None
    start: float | None = None
    limit: int = 100
    parent_id: str | None = None


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # sessions
    async def put_session(self, info: dict[str, Any]) -> None: ...

    async def get_session(self, session_id: str) -> dict[str, Any] | None: ...

    async def list_sessions(self, query: SessionQuery) -> list[dict[str, Any]]: ...

    async def delete_session(self, session_id: str) -> None: ...

    # messages and parts
    async def put_message(self, info: dict[str, Any]) -> None: ...

    async def get_message(self, session_id: str, message_id: str) -> dict[str, Any] | None: ...

    async def list_messages(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def delete_message(self, session_id: str, message_id: str) -> None: ...

    async def put_part(self, part: dict[str, Any]) -> None: ...

    async def get_parts(self, message_id: str) -> list[dict[str, Any]]: ...

    async def delete_part(self, message_id: str, part_id: str) -> None: ...

    # todos
    async def get_todos(self, session_id: str) -> list[dict[str, Any]]: ...

    async def set_todos(self, session_id: str, todos: list[dict[str, Any]]) -> None: ...

    # runs: the idempotency claim and crash recovery
    async def claim_run(
        self, run: RunRecord, user_message: dict[str, Any], parts: list[dict[str, Any]]
    ) -> RunRecord | None:
        """Record the run and its user message in one transaction, unless `run.message_id` is
        already claimed: then return the existing record and write nothing."""
        ...

    async def get_run(self, message_id: str) -> RunRecord | None: ...

    async def update_run(self, message_id: str, **fields: Any) -> None: ...

    async def unfinished_runs(self) -> list[RunRecord]: ...
