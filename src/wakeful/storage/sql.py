"""The SQLAlchemy store (SQLite by default).

SQLite stays healthy under many concurrent runs by three rules: one writer connection fed by a
group-commit queue (`storage.writer`: writers queue in memory instead of hitting `database is
locked` or a pool timeout, and many writes share one commit); every write transaction opens with
`BEGIN IMMEDIATE`, so it takes the write lock up front instead of failing on upgrade; and writes are
short: a write is a plain function of a connection, so no transaction can span a network or tool
wait. Readers use their own small pool and see WAL snapshots. Statements are built once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, event, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from wakeful.errors import ConflictError
from wakeful.storage import schema as t
from wakeful.storage.base import RunRecord, RunStatus, SessionQuery, fold, part_taken
from wakeful.storage.writer import GroupWriter

T = TypeVar("T")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _upsert(table: Any, key: str, columns: tuple[str, ...]) -> Any:
    stmt = sqlite_insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key]], set_={c: stmt.excluded[c] for c in columns}
    )


# A record written again keeps its seq (its place in lists); the columns follow the new record.
UPSERT_SESSION = _upsert(t.sessions, "id", ("project_id", "parent_id", "title", "updated", "data"))
UPSERT_MESSAGE = _upsert(t.messages, "id", ("session_id", "data"))
UPSERT_PART = _upsert(t.parts, "id", ("message_id", "session_id", "data"))
UPSERT_TODOS = _upsert(t.todos, "session_id", ("data",))
# Readers wait for a connection rather than fail: a burst of thousands of calls queues here.
READER_POOL_TIMEOUT = 600.0
# Well under SQLite's limit on bound parameters in one statement.
IN_CHUNK = 500


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _message_row(info: dict[str, Any]) -> dict[str, Any]:
    return {"id": info["id"], "session_id": info["sessionID"], "data": _dumps(info)}


def _part_row(part: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": part["id"],
        "message_id": part["messageID"],
        "session_id": part["sessionID"],
        "data": _dumps(part),
    }


def _sqlite_engine(
    path: Path, *, begin: str, pool_size: int, busy_timeout: float, pool_timeout: float
) -> AsyncEngine:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        connect_args={"timeout": busy_timeout},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below instead of pysqlite's implicit BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # Search folds case in Python, as every store does (SQLite's own lower() knows only ASCII).
        dbapi_connection.create_function("wakeful_fold", 1, fold, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class SQLStore:
    def __init__(self, path: Path, *, readers: int = 4, busy_timeout: float = 30.0) -> None:
        self.path = path
        self._writer = _sqlite_engine(
            path, begin="BEGIN IMMEDIATE", pool_size=1, busy_timeout=busy_timeout, pool_timeout=busy_timeout
        )
        self._reader = _sqlite_engine(
            path,
            begin="BEGIN",
            pool_size=readers,
            busy_timeout=busy_timeout,
            pool_timeout=READER_POOL_TIMEOUT,
        )
        self.writes = GroupWriter(self._writer)

    async def open(self) -> None:
        await self.writes.run(t.migrate)

    async def close(self) -> None:
        await self.writes.close()
        await self._writer.dispose()
        await self._reader.dispose()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.begin() as conn:
            yield conn

    # --- sessions -------------------------------------------------------------------------------

    async def put_session(self, info: dict[str, Any]) -> None:
        row = {
            "id": info["id"],
            "project_id": info["projectID"],
            "parent_id": info.get("parentID"),
            "title": info.get("title", ""),
            "updated": int(info["time"]["updated"]),
            "data": _dumps(info),
        }
        await self.writes.run(lambda conn: conn.execute(UPSERT_SESSION, row))

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        async with self._read() as conn:
            row = (await conn.execute(select(t.sessions.c.data).where(t.sessions.c.id == session_id))).first()
        return json.loads(row[0]) if row else None

    async def list_sessions(self, query: SessionQuery) -> list[dict[str, Any]]:
        stmt = select(t.sessions.c.data).order_by(t.sessions.c.seq.desc())
        if query.project_id is not None:
            stmt = stmt.where(t.sessions.c.project_id == query.project_id)
        if query.parent_id is not None:
            stmt = stmt.where(t.sessions.c.parent_id == query.parent_id)
        if query.roots:
            stmt = stmt.where(t.sessions.c.parent_id.is_(None))
        if query.search:
            stmt = stmt.where(func.instr(func.wakeful_fold(t.sessions.c.title), fold(query.search)) > 0)
        if query.start is not None:
            stmt = stmt.where(t.sessions.c.updated >= query.start)
        stmt = stmt.limit(query.limit)
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [json.loads(r[0]) for r in rows]

    async def session_tree(self, session_id: str) -> list[dict[str, Any]]:
        async with self._read() as conn:
            rows = await conn.run_sync(_tree, session_id)
        return [json.loads(data) for _, data in rows]

    async def delete_session_tree(self, session_id: str) -> list[dict[str, Any]]:
        def op(conn: Connection) -> list[dict[str, Any]]:
            rows = _tree(conn, session_id)
            for chunk in _chunks([sid for sid, _ in rows]):
                for table in (t.parts, t.messages, t.todos, t.runs):
                    conn.execute(delete(table).where(table.c.session_id.in_(chunk)))
                conn.execute(delete(t.sessions).where(t.sessions.c.id.in_(chunk)))
            return [json.loads(data) for _, data in rows]

        return await self.writes.run(op)

    # --- messages and parts -----------------------------------------------------------------------

    async def put_message(self, info: dict[str, Any]) -> None:
        row = _message_row(info)
        await self.writes.run(lambda conn: conn.execute(UPSERT_MESSAGE, row))

    async def get_message(self, session_id: str, message_id: str) -> dict[str, Any] | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(t.messages.c.data).where(
                        t.messages.c.id == message_id, t.messages.c.session_id == session_id
                    )
                )
            ).first()
            if not row:
                return None
            parts = await self._parts(conn, [message_id])
        return {"info": json.loads(row[0]), "parts": parts.get(message_id, [])}

    async def _parts(self, conn: AsyncConnection, message_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {m: [] for m in message_ids}
        for chunk in _chunks(message_ids):
            rows = await conn.execute(
                select(t.parts.c.message_id, t.parts.c.data)
                .where(t.parts.c.message_id.in_(chunk))
                .order_by(t.parts.c.seq)
            )
            for message_id, data in rows:
                out[message_id].append(json.loads(data))
        return out

    async def list_messages(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> list[dict[str, Any]]:
        stmt = select(t.messages.c.id, t.messages.c.data).where(t.messages.c.session_id == session_id)
        async with self._read() as conn:
            if before is not None:
                pivot = select(t.messages.c.seq).where(t.messages.c.id == before).scalar_subquery()
                stmt = stmt.where(t.messages.c.seq < pivot)
            stmt = stmt.order_by(t.messages.c.seq.desc())
            if limit is not None:
                stmt = stmt.limit(limit)
            rows = list(reversed((await conn.execute(stmt)).all()))
            parts = await self._parts(conn, [r[0] for r in rows])
        return [{"info": json.loads(data), "parts": parts[mid]} for mid, data in rows]

    async def delete_message(self, session_id: str, message_id: str) -> None:
        def op(conn: Connection) -> None:
            conn.execute(delete(t.parts).where(t.parts.c.message_id == message_id))
            conn.execute(
                delete(t.messages).where(t.messages.c.id == message_id, t.messages.c.session_id == session_id)
            )

        await self.writes.run(op)

    async def put_part(self, part: dict[str, Any]) -> None:
        row = _part_row(part)
        await self.writes.run(lambda conn: conn.execute(UPSERT_PART, row))

    async def delete_part(self, message_id: str, part_id: str) -> None:
        stmt = delete(t.parts).where(t.parts.c.id == part_id, t.parts.c.message_id == message_id)
        await self.writes.run(lambda conn: conn.execute(stmt))

    # --- todos ------------------------------------------------------------------------------------

    async def get_todos(self, session_id: str) -> list[dict[str, Any]]:
        async with self._read() as conn:
            row = (
                await conn.execute(select(t.todos.c.data).where(t.todos.c.session_id == session_id))
            ).first()
        return json.loads(row[0]) if row else []

    async def set_todos(self, session_id: str, todos: list[dict[str, Any]]) -> None:
        row = {"session_id": session_id, "data": _dumps(todos)}
        await self.writes.run(lambda conn: conn.execute(UPSERT_TODOS, row))

    # --- runs -------------------------------------------------------------------------------------

    @staticmethod
    def _run(row: Any) -> RunRecord:
        fields = dict(row._mapping)
        return RunRecord(**{**fields, "pgids": json.loads(fields["pgids"])})

    async def claim_run(
        self, run: RunRecord, user_message: dict[str, Any], parts: list[dict[str, Any]]
    ) -> RunRecord | None:
        # A taken part id is returned, not raised: a raise would fail every write of the batch.
        def op(conn: Connection) -> RunRecord | ConflictError | None:
            row = conn.execute(select(t.runs).where(t.runs.c.message_id == run.message_id)).first()
            if row is not None:
                return self._run(row)
            taken = conn.execute(
                select(t.messages.c.session_id).where(t.messages.c.id == run.message_id)
            ).first()
            if taken is not None:
                # The id names a message that no run owns: an empty hash makes it a conflict.
                return RunRecord(run.message_id, taken[0], "message", body_hash="")
            for chunk in _chunks([p["id"] for p in parts]):
                used = conn.execute(select(t.parts.c.id).where(t.parts.c.id.in_(chunk))).first()
                if used is not None:
                    return part_taken(used[0])
            conn.execute(t.runs.insert().values(**{**asdict(run), "pgids": _dumps(run.pgids)}))
            conn.execute(UPSERT_MESSAGE, _message_row(user_message))
            if parts:
                conn.execute(UPSERT_PART, [_part_row(p) for p in parts])
            return None

        outcome = await self.writes.run(op)
        if isinstance(outcome, ConflictError):
            raise outcome
        return outcome

    async def get_run(self, message_id: str) -> RunRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(select(t.runs).where(t.runs.c.message_id == message_id))).first()
        return self._run(row) if row else None

    async def set_run_status(self, message_id: str, status: RunStatus) -> None:
        values: dict[str, str] = {"status": status}
        if status == "done":
            values["pgids"] = "[]"
        await self._update_run(message_id, values)

    async def set_run_pgids(self, message_id: str, pgids: list[int]) -> None:
        await self._update_run(message_id, {"pgids": _dumps(pgids)})

    async def _update_run(self, message_id: str, values: dict[str, str]) -> None:
        stmt = t.runs.update().where(t.runs.c.message_id == message_id).values(**values)
        await self.writes.run(lambda conn: conn.execute(stmt))

    async def unfinished_runs(self) -> list[RunRecord]:
        async with self._read() as conn:
            rows = (await conn.execute(select(t.runs).where(t.runs.c.status != "done"))).all()
        return [self._run(r) for r in rows]


def _tree(conn: Connection, session_id: str) -> list[tuple[str, str]]:
    """`(id, data)` of the session and its descendants: deepest level first, newest first within a
    level. Walked level by level with a visited set, so that no parent cycle can loop."""

    def rows(where: Any) -> list[tuple[str, str, int]]:
        found = conn.execute(select(t.sessions.c.id, t.sessions.c.data, t.sessions.c.seq).where(where))
        return [(r.id, r.data, r.seq) for r in found]

    level = rows(t.sessions.c.id == session_id)
    levels: list[list[tuple[str, str, int]]] = []
    seen = {session_id}
    while level:
        levels.append(level)
        below = [
            row for chunk in _chunks([r[0] for r in level]) for row in rows(t.sessions.c.parent_id.in_(chunk))
        ]
        level = sorted((row for row in below if row[0] not in seen), key=lambda row: row[2])
        seen.update(row[0] for row in level)
    return [(sid, data) for level in reversed(levels) for sid, data, _ in reversed(level)]
