"""An in-memory store with SQLStore's semantics, for unit tests (and a Runtime built on one).

Nothing persists and nothing is shared between processes. Every method runs without awaiting, so
each is one atomic step, as a transaction is in SQLStore. Records go in and come out through a JSON
round trip: a caller never shares an object with the store, and what is kept is exactly what
SQLStore would keep.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

from wakeful.storage.base import (
    DeliveryRecord,
    ProjectRecord,
    Record,
    RunRecord,
    RunStatus,
    SessionQuery,
    Settlement,
    fold,
    part_taken,
)

T = TypeVar("T")


def _copy(value: T) -> T:
    copied: T = json.loads(json.dumps(value))
    return copied


def _run_copy(run: RunRecord) -> RunRecord:
    return replace(run, pgids=list(run.pgids), plan=_copy(run.plan))


@dataclass
class _Row:
    seq: int  # insertion order; an upsert keeps it
    data: dict[str, Any]


class MemoryStore:
    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self._sessions: dict[str, _Row] = {}
        self._messages: dict[str, _Row] = {}
        self._parts: dict[str, _Row] = {}
        self._todos: dict[str, list[dict[str, Any]]] = {}
        self._runs: dict[str, RunRecord] = {}
        self._permissions: dict[str, _Row] = {}
        self._deliveries: dict[str, DeliveryRecord] = {}  # in insertion order

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def _put(self, table: dict[str, _Row], record: dict[str, Any]) -> None:
        row = table.get(record["id"])
        if row is None:
            table[record["id"]] = _Row(next(self._seq), _copy(record))
        else:
            row.data = _copy(record)

    @staticmethod
    def _ordered(rows: Iterable[_Row]) -> list[_Row]:
        return sorted(rows, key=lambda row: row.seq)

    # --- sessions -------------------------------------------------------------------------------

    async def put_session(self, info: dict[str, Any]) -> None:
        self._put(self._sessions, info)

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        row = self._sessions.get(session_id)
        return _copy(row.data) if row else None

    async def list_sessions(self, query: SessionQuery) -> list[dict[str, Any]]:
        search = fold(query.search) if query.search else None
        found = [
            row.data
            for row in reversed(self._ordered(self._sessions.values()))
            if (query.project_id is None or row.data["projectID"] == query.project_id)
            and (query.parent_id is None or row.data.get("parentID") == query.parent_id)
            and not (query.roots and row.data.get("parentID") is not None)
            and (search is None or search in fold(row.data.get("title", "")))
            and (query.start is None or int(row.data["time"]["updated"]) >= query.start)
        ]
        return _copy(found[: query.limit])

    def _tree(self, session_id: str) -> list[_Row]:
        root = self._sessions.get(session_id)
        level = [root] if root else []
        levels: list[list[_Row]] = []
        seen = {session_id}
        while level:
            levels.append(level)
            parents = {row.data["id"] for row in level}
            level = [
                row
                for row in self._ordered(self._sessions.values())
                if row.data.get("parentID") in parents and row.data["id"] not in seen
            ]
            seen.update(row.data["id"] for row in level)
        return [row for level in reversed(levels) for row in reversed(level)]

    async def session_tree(self, session_id: str) -> list[dict[str, Any]]:
        return _copy([row.data for row in self._tree(session_id)])

    async def delete_session_tree(self, session_id: str) -> list[dict[str, Any]]:
        removed = [row.data for row in self._tree(session_id)]
        doomed = {info["id"] for info in removed}
        for table in (self._messages, self._parts, self._permissions):
            for key in [k for k, row in table.items() if row.data["sessionID"] in doomed]:
                del table[key]
        for key in [k for k, run in self._runs.items() if run.session_id in doomed]:
            del self._runs[key]
        for key in [k for k, d in self._deliveries.items() if d.session_id in doomed]:
            del self._deliveries[key]
        for sid in doomed:
            self._sessions.pop(sid)
            self._todos.pop(sid, None)
        return removed

    async def projects(self) -> list[ProjectRecord]:
        found: dict[str, ProjectRecord] = {}
        for row in self._ordered(self._sessions.values()):
            info = row.data
            known = found.get(info["projectID"])
            updated = int(info["time"]["updated"])
            if known is None:
                found[info["projectID"]] = ProjectRecord(
                    info["projectID"], info["directory"], int(info["time"]["created"]), updated
                )
            elif updated > known.updated:
                found[info["projectID"]] = replace(known, updated=updated)
        return sorted(found.values(), key=lambda p: p.updated, reverse=True)

    # --- messages and parts -----------------------------------------------------------------------

    def _with_parts(self, row: _Row) -> dict[str, Any]:
        message_id = row.data["id"]
        parts = [p.data for p in self._ordered(self._parts.values()) if p.data["messageID"] == message_id]
        return {"info": _copy(row.data), "parts": _copy(parts)}

    async def put_message(self, info: dict[str, Any]) -> None:
        self._put(self._messages, info)

    async def get_message(self, session_id: str, message_id: str) -> dict[str, Any] | None:
        row = self._messages.get(message_id)
        if row is None or row.data["sessionID"] != session_id:
            return None
        return self._with_parts(row)

    async def list_messages(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> list[dict[str, Any]]:
        rows = [r for r in self._ordered(self._messages.values()) if r.data["sessionID"] == session_id]
        if before is not None:
            pivot = self._messages.get(before)
            rows = [r for r in rows if pivot is not None and r.seq < pivot.seq]
        if limit is not None:
            rows = rows[max(len(rows) - limit, 0) :]
        return [self._with_parts(row) for row in rows]

    async def messages_after(self, session_id: str, message_id: str) -> list[dict[str, Any]] | None:
        pivot = self._messages.get(message_id)
        if pivot is None or pivot.data["sessionID"] != session_id:
            return None
        rows = [r for r in self._messages.values() if r.data["sessionID"] == session_id and r.seq > pivot.seq]
        return [self._with_parts(row) for row in self._ordered(rows)]

    async def delete_message(self, session_id: str, message_id: str) -> None:
        for key in [k for k, p in self._parts.items() if p.data["messageID"] == message_id]:
            del self._parts[key]
        row = self._messages.get(message_id)
        if row is not None and row.data["sessionID"] == session_id:
            del self._messages[message_id]

    async def put_part(self, part: dict[str, Any]) -> None:
        self._put(self._parts, part)

    async def put_records(self, records: Sequence[Record]) -> None:
        for kind, data in records:
            self._put(self._messages if kind == "message" else self._parts, data)

    async def delete_part(self, message_id: str, part_id: str) -> None:
        row = self._parts.get(part_id)
        if row is not None and row.data["messageID"] == message_id:
            del self._parts[part_id]

    async def get_todos(self, session_id: str) -> list[dict[str, Any]]:
        return _copy(self._todos.get(session_id, []))

    async def set_todos(self, session_id: str, todos: list[dict[str, Any]]) -> None:
        self._todos[session_id] = _copy(todos)

    # --- runs -------------------------------------------------------------------------------------

    async def claim_run(
        self, run: RunRecord, user_message: dict[str, Any], parts: list[dict[str, Any]]
    ) -> RunRecord | None:
        existing = self._runs.get(run.message_id)
        if existing is not None:
            return _run_copy(existing)
        taken = self._messages.get(run.message_id)
        if taken is not None:
            return RunRecord(run.message_id, taken.data["sessionID"], "message", body_hash="")
        used = next((p["id"] for p in parts if p["id"] in self._parts), None)
        if used is not None:
            raise part_taken(used)
        self._runs[run.message_id] = _run_copy(run)
        self._put(self._messages, user_message)
        for part in parts:
            self._put(self._parts, part)
        return None

    async def get_run(self, message_id: str) -> RunRecord | None:
        run = self._runs.get(message_id)
        return _run_copy(run) if run else None

    async def set_run_status(self, message_id: str, status: RunStatus) -> None:
        run = self._runs.get(message_id)
        if run is not None:
            run.status = status
            if status == "done":
                run.pgids = []

    async def set_run_pgids(self, message_id: str, pgids: list[int]) -> None:
        run = self._runs.get(message_id)
        if run is not None:
            run.pgids = list(pgids)

    async def unfinished_runs(self, session_id: str | None = None) -> list[RunRecord]:
        found = [
            run
            for run in self._runs.values()
            if run.status != "done" and session_id in (None, run.session_id)
        ]
        return [_run_copy(run) for run in sorted(found, key=lambda run: (run.created, run.message_id))]

    async def renew_leases(self, instance: str, message_ids: Collection[str], until: int) -> set[str]:
        found = (self._runs.get(message_id) for message_id in message_ids)
        owned = [run for run in found if run is not None and run.instance == instance and run.status != "done"]
        for run in owned:
            run.lease_until = until
        return {run.message_id for run in owned}

    async def expired_runs(self, now: int) -> list[RunRecord]:
        found = [run for run in self._runs.values() if run.status != "done" and run.lease_until < now]
        return [_run_copy(run) for run in sorted(found, key=lambda run: (run.created, run.message_id))]

    async def take_over(self, run: RunRecord, instance: str, host: str, until: int) -> bool:
        stored = self._runs.get(run.message_id)
        if stored is None or (stored.instance, stored.lease_until) != (run.instance, run.lease_until):
            return False
        stored.instance, stored.host, stored.lease_until = instance, host, until
        stored.resumes += 1
        stored.pgids = []
        return True

    # --- permission requests --------------------------------------------------------------------

    async def put_permission(self, request: dict[str, Any]) -> None:
        self._put(self._permissions, request)

    async def delete_permission(self, request_id: str) -> None:
        self._permissions.pop(request_id, None)

    async def list_permissions(self) -> list[dict[str, Any]]:
        return _copy([row.data for row in self._ordered(self._permissions.values())])

    async def clear_permissions(self) -> list[dict[str, Any]]:
        removed = [row.data for row in self._ordered(self._permissions.values())]
        self._permissions.clear()
        return removed

    # --- webhook deliveries ---------------------------------------------------------------------

    async def add_deliveries(self, deliveries: list[DeliveryRecord]) -> list[DeliveryRecord]:
        added = []
        for delivery in deliveries:
            if delivery.id not in self._deliveries:
                self._deliveries[delivery.id] = replace(delivery)
                added.append(replace(delivery))
        return added

    async def claim_deliveries(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> list[DeliveryRecord]:
        due = [
            d
            for d in self._deliveries.values()
            if d.status == "pending" and d.next_attempt <= now and d.lease_until <= now
        ]
        claimed = sorted(due, key=lambda d: d.next_attempt)[: max(limit, 0)]
        for delivery in claimed:
            delivery.owner, delivery.lease_until = owner, lease_until
            delivery.attempts += 1
        return [replace(d) for d in claimed]

    async def settle_delivery(self, delivery_id: str, owner: str, attempt: int, outcome: Settlement) -> bool:
        delivery = self._deliveries.get(delivery_id)
        if delivery is None or delivery.owner != owner or delivery.attempts != attempt:
            return False
        self._deliveries[delivery_id] = replace(delivery, owner=None, lease_until=0, **asdict(outcome))
        return True

    async def next_delivery_due(self) -> int | None:
        due = [max(d.next_attempt, d.lease_until) for d in self._deliveries.values() if d.status == "pending"]
        return min(due, default=None)

    async def list_deliveries(self, message_id: str) -> list[DeliveryRecord]:
        return [replace(d) for d in self._deliveries.values() if d.message_id == message_id]
