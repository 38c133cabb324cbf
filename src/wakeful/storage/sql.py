"""The SQL store: one implementation of every Store protocol, on SQLite or PostgreSQL.

Statements are SQLAlchemy Core on the one schema (`storage.schema`), built once per dialect;
the upserts use the dialect's own `INSERT ... ON CONFLICT`. What differs between the databases is
how a connection is had, and nothing else: a `Database` (`storage.sqlite.SQLite`: one group-commit
writer; `storage.postgres.Postgres`: a pool of concurrent transactions). Writes are plain functions
of a connection, run in one transaction each, so no transaction can span a network or tool wait.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import (
    Connection,
    Insert,
    Table,
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)

from wakeful.errors import ConflictError
from wakeful.storage import schema as t
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

if TYPE_CHECKING:  # the PostgreSQL dialect loads only with a PostgreSQL database
    from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
# Insert with `on_conflict_do_update`/`on_conflict_do_nothing`: each dialect has its own.
DialectInsert = Callable[[Table], "sqlite.Insert | postgresql.Insert"]

# The columns of a DeliveryRecord: all but the insertion sequence.
_DELIVERY = [c for c in t.deliveries.c if c.name != "seq"]
# Well under the limit on bound parameters in one statement (SQLite's is the lowest).
IN_CHUNK = 500
# "Not done", spelt so that the index on status answers it.
UNFINISHED = t.runs.c.status.in_(("queued", "running"))

# What every prompt reads and writes, built once: building a statement costs far more than SQLite
# takes to run it.
_SESSION = select(t.sessions.c.data).where(t.sessions.c.id == bindparam("p_id"))
_MESSAGE = select(t.messages.c.data).where(
    t.messages.c.id == bindparam("p_id"), t.messages.c.session_id == bindparam("p_session")
)
_MESSAGE_SEQ = select(t.messages.c.seq).where(
    t.messages.c.id == bindparam("p_id"), t.messages.c.session_id == bindparam("p_session")
)
_MESSAGES_AFTER = (
    select(t.messages.c.id, t.messages.c.data)
    .where(t.messages.c.session_id == bindparam("p_session"), t.messages.c.seq > bindparam("p_seq"))
    .order_by(t.messages.c.seq)
)
_PARTS = (
    select(t.parts.c.message_id, t.parts.c.data)
    .where(t.parts.c.message_id.in_(bindparam("p_ids", expanding=True)))
    .order_by(t.parts.c.seq)
)
_RUN = select(t.runs).where(t.runs.c.message_id == bindparam("p_id"))


class Database(Protocol):
    """How the store reaches its database: all that differs between SQLite and PostgreSQL."""

    @property
    def insert(self) -> DialectInsert:
        """The dialect's insert, which the store's upserts are built with."""
        ...

    async def open(self) -> None:
        """Connect and bring the schema to the newest revision (`storage.migrate`)."""
        ...

    async def read(self, op: Callable[[Connection], T]) -> T:
        """`op` applied in a read transaction that sees one snapshot. It may run in another
        thread: everything it touches is its own."""
        ...

    async def write(self, op: Callable[[Connection], T]) -> T:
        """`op` applied in a write transaction, committed before this returns. A caller cancelled
        meanwhile does not cancel the write."""
        ...

    async def write_bulk(self, bulk: Callable[[Connection, list[I]], list[T]], item: I) -> T:
        """`item`'s result from `bulk`, committed before this returns: a database that groups
        writes applies the items of `bulk` queued together in one call (`storage.writer`)."""
        ...

    async def close(self) -> None:
        """Wait for the writes under way, then disconnect."""
        ...


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Statements:
    """The statements that differ by dialect: upserts and the claim."""

    session: Insert
    message: Insert
    part: Insert
    todos: Insert
    permission: Insert
    claim: Insert  # inserts the run unless its message id is taken: the constraint decides
    delivery: Insert  # inserts a delivery unless its id is stored already
    claims: Insert  # `claim`, returning the message ids of the runs inserted
    messages: Insert  # `message`, returning seq
    parts: Insert  # `part`, returning seq

    @staticmethod
    @functools.cache
    def of(insert: DialectInsert) -> Statements:
        def upsert(table: Table, key: str, columns: tuple[str, ...]) -> Insert:
            stmt = insert(table)
            return stmt.on_conflict_do_update(
                index_elements=[table.c[key]], set_={c: stmt.excluded[c] for c in columns}
            )

        # A record written again keeps its seq (its place in lists); the columns follow the new record.
        message = upsert(t.messages, "id", ("session_id", "data"))
        part = upsert(t.parts, "id", ("message_id", "session_id", "data"))
        claim = insert(t.runs).on_conflict_do_nothing(index_elements=[t.runs.c.message_id])
        return Statements(
            session=upsert(t.sessions, "id", ("project_id", "parent_id", "title_folded", "updated", "data")),
            message=message,
            part=part,
            todos=upsert(t.todos, "session_id", ("data",)),
            permission=upsert(t.permissions, "id", ("session_id", "data")),
            claim=claim,
            delivery=insert(t.deliveries).on_conflict_do_nothing(index_elements=[t.deliveries.c.id]),
            claims=claim.returning(t.runs.c.message_id),
            messages=message.returning(t.messages.c.seq),
            parts=part.returning(t.parts.c.seq),
        )


class _Direct:
    """A write run straight on the DBAPI cursor, compiled once per dialect: for the simple writes
    every prompt makes, where SQLAlchemy's execution (parameters, result) costs several times what
    the database takes. Only for parameters that need no type processing (text and integers)."""

    def __init__(self, stmt: Insert | Update, keys: Sequence[str] = ()) -> None:
        self._stmt, self._keys = stmt, list(keys)
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def __call__(self, conn: Connection, params: dict[str, Any]) -> None:
        dialect = conn.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._stmt.compile(dialect=dialect, column_keys=self._keys)
            order = tuple(compiled.positiontup) if dialect.positional and compiled.positiontup else None
            fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
            found = self._compiled[dialect.name] = (str(compiled), order, fixed)
        sql, order, constants = found
        values = {**constants, **params}
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, tuple(values[k] for k in order) if order is not None else values)
        finally:
            cursor.close()


def _run_update(**values: Any) -> _Direct:
    """An update of the run whose message id is bound as `p_id`."""
    return _Direct(t.runs.update().where(t.runs.c.message_id == bindparam("p_id")).values(**values))


_RUN_STATUS = _run_update(status=bindparam("p_status"))
_RUN_PGIDS = _run_update(pgids=bindparam("p_pgids"))
_RUN_DONE = _run_update(status="done", pgids="[]")


def _chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Which of the ids bound as `p_ids` (a list) are stored: what a claim checks before it inserts.
_MESSAGE_IDS = select(t.messages.c.id).where(t.messages.c.id.in_(bindparam("p_ids", expanding=True)))
_PART_IDS = select(t.parts.c.id).where(t.parts.c.id.in_(bindparam("p_ids", expanding=True)))


@dataclass(frozen=True, slots=True)
class _Claim:
    run: RunRecord
    row: dict[str, Any]
    user_message: dict[str, Any]
    parts: list[dict[str, Any]]


def _used_part(conn: Connection, parts: list[dict[str, Any]]) -> str | None:
    """The first of `parts`' ids already stored, if any."""
    for chunk in _chunks([p["id"] for p in parts]):
        used = conn.execute(_PART_IDS, {"p_ids": chunk}).first()
        if used is not None:
            return str(used[0])
    return None


_SESSION_COLUMNS = ("id", "project_id", "parent_id", "title_folded", "updated", "data")
_MESSAGE_COLUMNS = ("id", "session_id", "data")
_PART_COLUMNS = ("id", "message_id", "session_id", "data")


def _message_row(info: dict[str, Any]) -> dict[str, Any]:
    return {"id": info["id"], "session_id": info["sessionID"], "data": _dumps(info)}


def _part_row(part: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": part["id"],
        "message_id": part["messageID"],
        "session_id": part["sessionID"],
        "data": _dumps(part),
    }


class SQLStore:
    """Every Store protocol on a `Database`; records come back as fresh copies (parsed JSON)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sql = Statements.of(db.insert)
        self._put_session = _Direct(self._sql.session, _SESSION_COLUMNS)
        self._put_message = _Direct(self._sql.message, _MESSAGE_COLUMNS)
        self._put_part = _Direct(self._sql.part, _PART_COLUMNS)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    # --- sessions -------------------------------------------------------------------------------

    async def put_session(self, info: dict[str, Any]) -> None:
        row = {
            "id": info["id"],
            "project_id": info["projectID"],
            "parent_id": info.get("parentID"),
            "title_folded": fold(info.get("title", "")),
            "updated": int(info["time"]["updated"]),
            "data": _dumps(info),
        }
        await self.db.write(lambda conn: self._put_session(conn, row))

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        params = {"p_id": session_id}
        return await self.db.read(lambda conn: _loads_first(conn.execute(_SESSION, params).first()))

    async def list_sessions(self, query: SessionQuery) -> list[dict[str, Any]]:
        stmt = select(t.sessions.c.data).order_by(t.sessions.c.seq.desc())
        if query.project_id is not None:
            stmt = stmt.where(t.sessions.c.project_id == query.project_id)
        if query.parent_id is not None:
            stmt = stmt.where(t.sessions.c.parent_id == query.parent_id)
        if query.roots:
            stmt = stmt.where(t.sessions.c.parent_id.is_(None))
        if query.search:
            stmt = stmt.where(t.sessions.c.title_folded.contains(fold(query.search), autoescape=True))
        if query.start is not None:
            stmt = stmt.where(t.sessions.c.updated >= query.start)
        stmt = stmt.limit(query.limit)
        return await self.db.read(lambda conn: [json.loads(r[0]) for r in conn.execute(stmt)])

    async def session_tree(self, session_id: str) -> list[dict[str, Any]]:
        return await self.db.read(lambda conn: [json.loads(data) for _, data in _tree(conn, session_id)])

    async def delete_session_tree(self, session_id: str) -> list[dict[str, Any]]:
        def op(conn: Connection) -> list[dict[str, Any]]:
            rows = _tree(conn, session_id)
            for chunk in _chunks([sid for sid, _ in rows]):
                for table in (t.parts, t.messages, t.todos, t.runs, t.permissions, t.deliveries):
                    conn.execute(delete(table).where(table.c.session_id.in_(chunk)))
                conn.execute(delete(t.sessions).where(t.sessions.c.id.in_(chunk)))
            return [json.loads(data) for _, data in rows]

        return await self.db.write(op)

    async def projects(self) -> list[ProjectRecord]:
        sessions = t.sessions.c
        spans = (
            select(func.min(sessions.seq).label("first"), func.max(sessions.updated).label("updated"))
            .group_by(sessions.project_id)
            .subquery()
        )
        stmt = (
            select(sessions.project_id, sessions.data, spans.c.updated)
            .join(spans, sessions.seq == spans.c.first)
            .order_by(spans.c.updated.desc())
        )
        rows = await self.db.read(lambda conn: conn.execute(stmt).all())
        found = []
        for project_id, data, updated in rows:
            info = json.loads(data)
            found.append(ProjectRecord(project_id, info["directory"], int(info["time"]["created"]), updated))
        return found

    # --- messages and parts -----------------------------------------------------------------------

    async def put_message(self, info: dict[str, Any]) -> None:
        row = _message_row(info)
        await self.db.write(lambda conn: self._put_message(conn, row))

    async def get_message(self, session_id: str, message_id: str) -> dict[str, Any] | None:
        params = {"p_id": message_id, "p_session": session_id}

        def op(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(_MESSAGE, params).first()
            if not row:
                return None
            return {"info": json.loads(row[0]), "parts": _parts(conn, [message_id])[message_id]}

        return await self.db.read(op)

    async def list_messages(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> list[dict[str, Any]]:
        stmt = select(t.messages.c.id, t.messages.c.data).where(t.messages.c.session_id == session_id)
        if before is not None:
            pivot = select(t.messages.c.seq).where(t.messages.c.id == before).scalar_subquery()
            stmt = stmt.where(t.messages.c.seq < pivot)
        stmt = stmt.order_by(t.messages.c.seq.desc())
        if limit is not None:
            stmt = stmt.limit(limit)

        def op(conn: Connection) -> list[dict[str, Any]]:
            rows = list(reversed(conn.execute(stmt).all()))
            parts = _parts(conn, [r[0] for r in rows])
            return [{"info": json.loads(data), "parts": parts[mid]} for mid, data in rows]

        return await self.db.read(op)

    async def messages_after(self, session_id: str, message_id: str) -> list[dict[str, Any]] | None:
        def op(conn: Connection) -> list[dict[str, Any]] | None:
            seq = conn.execute(_MESSAGE_SEQ, {"p_id": message_id, "p_session": session_id}).scalar()
            if seq is None:
                return None
            rows = conn.execute(_MESSAGES_AFTER, {"p_session": session_id, "p_seq": seq}).all()
            parts = _parts(conn, [r[0] for r in rows])
            return [{"info": json.loads(data), "parts": parts[mid]} for mid, data in rows]

        return await self.db.read(op)

    async def delete_message(self, session_id: str, message_id: str) -> None:
        def op(conn: Connection) -> None:
            conn.execute(delete(t.parts).where(t.parts.c.message_id == message_id))
            conn.execute(
                delete(t.messages).where(t.messages.c.id == message_id, t.messages.c.session_id == session_id)
            )

        await self.db.write(op)

    async def put_part(self, part: dict[str, Any]) -> None:
        row = _part_row(part)
        await self.db.write(lambda conn: self._put_part(conn, row))

    async def put_records(self, records: Sequence[Record]) -> None:
        writes = [
            (self._put_message, _message_row(data))
            if kind == "message"
            else (self._put_part, _part_row(data))
            for kind, data in records
        ]

        def op(conn: Connection) -> None:
            for put, row in writes:
                put(conn, row)

        await self.db.write(op)

    async def delete_part(self, message_id: str, part_id: str) -> None:
        stmt = delete(t.parts).where(t.parts.c.id == part_id, t.parts.c.message_id == message_id)
        await self.db.write(lambda conn: conn.execute(stmt))

    # --- todos ------------------------------------------------------------------------------------

    async def get_todos(self, session_id: str) -> list[dict[str, Any]]:
        stmt = select(t.todos.c.data).where(t.todos.c.session_id == session_id)
        found = await self.db.read(lambda conn: _loads_first(conn.execute(stmt).first()))
        return found if found is not None else []

    async def set_todos(self, session_id: str, todos: list[dict[str, Any]]) -> None:
        row = {"session_id": session_id, "data": _dumps(todos)}
        await self.db.write(lambda conn: conn.execute(self._sql.todos, row))

    # --- runs -------------------------------------------------------------------------------------

    @staticmethod
    def _run(row: Any) -> RunRecord:
        fields = dict(row._mapping)
        return RunRecord(**{**fields, "pgids": json.loads(fields["pgids"]), "plan": json.loads(fields["plan"])})

    async def claim_run(
        self, run: RunRecord, user_message: dict[str, Any], parts: list[dict[str, Any]]
    ) -> RunRecord | None:
        row = {f.name: getattr(run, f.name) for f in fields(run)}  # shallow: asdict deep-copies
        claim = _Claim(run, {**row, "pgids": _dumps(run.pgids), "plan": _dumps(run.plan)}, user_message, parts)
        outcome = await self.db.write_bulk(self._claims, claim)
        if isinstance(outcome, ConflictError):
            raise outcome
        return outcome

    def _claims(self, conn: Connection, claims: list[_Claim]) -> list[RunRecord | ConflictError | None]:
        """Many claims in a few statements (a burst's claims arrive together): those whose message
        and part ids are all free are inserted together; the rest, and any that another server
        claimed meanwhile, go through `_claim` one by one."""
        ids = [c.run.message_id for c in claims]
        part_ids = [p["id"] for c in claims for p in c.parts]
        taken = {row[0] for chunk in _chunks(ids) for row in conn.execute(_MESSAGE_IDS, {"p_ids": chunk})}
        used = {row[0] for chunk in _chunks(part_ids) for row in conn.execute(_PART_IDS, {"p_ids": chunk})}
        counts = Counter([*ids, *part_ids])  # an id twice in the batch: settled one at a time
        free = [
            c
            for c in claims
            if c.run.message_id not in taken
            and counts[c.run.message_id] == 1
            and not any(p["id"] in used or counts[p["id"]] > 1 for p in c.parts)
        ]
        # Executed with many rows and RETURNING, each insert is one statement per page of rows
        # (SQLAlchemy's "insertmanyvalues"), where a plain executemany steps SQLite once per row.
        inserted: set[str] = set()
        if free:
            returned = conn.execute(self._sql.claims, [c.row for c in free])
            inserted.update(row[0] for row in returned)
        claimed = [c for c in free if c.run.message_id in inserted]
        if claimed:
            rows = [_message_row(c.user_message) for c in claimed]
            conn.execute(self._sql.messages, rows).all()
        if part_rows := [_part_row(p) for c in claimed for p in c.parts]:
            conn.execute(self._sql.parts, part_rows).all()
        return [None if c.run.message_id in inserted else self._claim(conn, c) for c in claims]

    def _claim(self, conn: Connection, claim: _Claim) -> RunRecord | ConflictError | None:
        """One claim: None once stored; the run that holds the id already; or, returned rather than
        raised (a raise would fail every write of a batch), the conflict of a part id in use."""
        run, parts = claim.run, claim.parts

        def stored_message() -> Any:
            return conn.execute(select(t.messages.c.session_id).where(t.messages.c.id == run.message_id)).first()

        # Other transactions (other servers on this database) may claim the id meanwhile: the
        # primary key decides. An insert that meets an uncommitted claim waits for it, and each
        # statement here sees what was committed before it began.
        while True:
            taken = stored_message()
            if taken is None:
                used = _used_part(conn, parts)
                if used is not None:
                    if stored_message() is not None:
                        # Claimed with these very parts since `taken` was read (on PostgreSQL each
                        # statement sees what was committed before it began): that claim answers.
                        continue
                    return part_taken(used)
                if conn.execute(self._sql.claim, claim.row).rowcount == 1:
                    conn.execute(self._sql.message, _message_row(claim.user_message))
                    if parts:
                        conn.execute(self._sql.part, [_part_row(p) for p in parts])
                    return None
            row = conn.execute(select(t.runs).where(t.runs.c.message_id == run.message_id)).first()
            if row is not None:
                return self._run(row)
            if taken is not None:
                # The id names a message that no run owns: an empty hash makes it a conflict.
                return RunRecord(run.message_id, taken[0], "message", body_hash="")
            # The claim that won was deleted since (its session was): try again.

    async def get_run(self, message_id: str) -> RunRecord | None:
        row = await self.db.read(lambda conn: conn.execute(_RUN, {"p_id": message_id}).first())
        return self._run(row) if row else None

    async def set_run_status(self, message_id: str, status: RunStatus) -> None:
        if status == "done":
            await self.db.write(lambda conn: _RUN_DONE(conn, {"p_id": message_id}))
        else:
            params = {"p_id": message_id, "p_status": status}
            await self.db.write(lambda conn: _RUN_STATUS(conn, params))

    async def set_run_pgids(self, message_id: str, pgids: list[int]) -> None:
        params = {"p_id": message_id, "p_pgids": _dumps(pgids)}
        await self.db.write(lambda conn: _RUN_PGIDS(conn, params))

    async def unfinished_runs(self, session_id: str | None = None) -> list[RunRecord]:
        stmt = select(t.runs).where(UNFINISHED).order_by(t.runs.c.created, t.runs.c.message_id)
        if session_id is not None:
            stmt = stmt.where(t.runs.c.session_id == session_id)
        rows = await self.db.read(lambda conn: conn.execute(stmt).all())
        return [self._run(r) for r in rows]

    async def renew_leases(self, instance: str, message_ids: Collection[str], until: int) -> set[str]:
        def op(conn: Connection) -> set[str]:
            renewed: set[str] = set()
            for chunk in _chunks(sorted(message_ids)):
                stmt = (
                    t.runs.update()
                    .where(t.runs.c.message_id.in_(chunk), t.runs.c.instance == instance, UNFINISHED)
                    .values(lease_until=until)
                    .returning(t.runs.c.message_id)
                )
                renewed.update(row[0] for row in conn.execute(stmt))
            return renewed

        return await self.db.write(op)

    async def expired_runs(self, now: int) -> list[RunRecord]:
        stmt = (
            select(t.runs)
            .where(UNFINISHED, t.runs.c.lease_until < now)
            .order_by(t.runs.c.created, t.runs.c.message_id)
        )
        rows = await self.db.read(lambda conn: conn.execute(stmt).all())
        return [self._run(r) for r in rows]

    async def take_over(self, run: RunRecord, instance: str, host: str, until: int) -> bool:
        runs = t.runs.c
        stmt = (
            t.runs.update()
            .where(
                runs.message_id == run.message_id,
                runs.instance == run.instance,
                runs.lease_until == run.lease_until,
            )
            .values(instance=instance, host=host, lease_until=until, resumes=runs.resumes + 1, pgids="[]")
        )
        # The condition is the lock: of several servers updating the same row, the first one's commit
        # changes the lease, and the others' conditions no longer match it.
        return bool(await self.db.write(lambda conn: conn.execute(stmt).rowcount == 1))

    # --- permission requests --------------------------------------------------------------------

    async def put_permission(self, request: dict[str, Any]) -> None:
        row = {"id": request["id"], "session_id": request["sessionID"], "data": _dumps(request)}
        await self.db.write(lambda conn: conn.execute(self._sql.permission, row))

    async def delete_permission(self, request_id: str) -> None:
        stmt = delete(t.permissions).where(t.permissions.c.id == request_id)
        await self.db.write(lambda conn: conn.execute(stmt))

    async def list_permissions(self) -> list[dict[str, Any]]:
        stmt = select(t.permissions.c.data).order_by(t.permissions.c.seq)
        return await self.db.read(lambda conn: [json.loads(r[0]) for r in conn.execute(stmt)])

    async def clear_permissions(self) -> list[dict[str, Any]]:
        def op(conn: Connection) -> list[dict[str, Any]]:
            rows = conn.execute(select(t.permissions.c.data).order_by(t.permissions.c.seq)).all()
            conn.execute(delete(t.permissions))
            return [json.loads(r[0]) for r in rows]

        return await self.db.write(op)

    # --- webhook deliveries ---------------------------------------------------------------------

    async def add_deliveries(self, deliveries: list[DeliveryRecord]) -> list[DeliveryRecord]:
        def op(conn: Connection) -> list[DeliveryRecord]:
            return [d for d in deliveries if conn.execute(self._sql.delivery, asdict(d)).rowcount == 1]

        return await self.db.write(op)

    async def claim_deliveries(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> list[DeliveryRecord]:
        d = t.deliveries.c
        claimable = and_(d.status == "pending", d.next_attempt <= now, d.lease_until <= now)
        # On PostgreSQL, servers claiming at once each pass over the rows another one is claiming
        # (SKIP LOCKED; SQLite has one writer and no such clause). The pick is a materialized CTE
        # so that it runs once: as a plain subquery PostgreSQL may run it again per row and claim
        # more than `limit`. The condition is repeated on the rows themselves, so a row is claimed
        # only if it is still claimable when it is written.
        picked = (
            select(d.id)
            .where(claimable)
            .order_by(d.next_attempt, d.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
            .prefix_with("MATERIALIZED")
        )
        stmt = (
            update(t.deliveries)
            .add_cte(picked)
            .where(claimable, d.id.in_(select(picked.c.id)))
            .values(owner=owner, lease_until=lease_until, attempts=d.attempts + 1)
            .returning(*_DELIVERY)
        )

        def op(conn: Connection) -> list[DeliveryRecord]:
            return [DeliveryRecord(**row._mapping) for row in conn.execute(stmt)]

        claimed = await self.db.write(op)
        return sorted(claimed, key=lambda r: r.next_attempt)

    async def settle_delivery(self, delivery_id: str, owner: str, attempt: int, outcome: Settlement) -> bool:
        d = t.deliveries.c
        stmt = (
            update(t.deliveries)
            .where(d.id == delivery_id, d.owner == owner, d.attempts == attempt)
            .values(owner=None, lease_until=0, **asdict(outcome))
        )
        return await self.db.write(lambda conn: conn.execute(stmt).rowcount == 1)

    async def next_delivery_due(self) -> int | None:
        d = t.deliveries.c
        due = case((d.lease_until > d.next_attempt, d.lease_until), else_=d.next_attempt)
        stmt = select(func.min(due)).where(d.status == "pending")
        value = await self.db.read(lambda conn: conn.execute(stmt).scalar())
        return None if value is None else int(value)

    async def list_deliveries(self, message_id: str) -> list[DeliveryRecord]:
        d = t.deliveries.c
        stmt = select(*_DELIVERY).where(d.message_id == message_id).order_by(d.seq)
        rows = await self.db.read(lambda conn: conn.execute(stmt).all())
        return [DeliveryRecord(**row._mapping) for row in rows]


def _loads_first(row: Any) -> Any:
    """The JSON of the first column of `row`, or None without a row."""
    return json.loads(row[0]) if row else None


def _parts(conn: Connection, message_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The parts of each of `message_ids`, in order."""
    out: dict[str, list[dict[str, Any]]] = {m: [] for m in message_ids}
    for chunk in _chunks(message_ids):
        for message_id, data in conn.execute(_PARTS, {"p_ids": list(chunk)}):
            out[message_id].append(json.loads(data))
    return out


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
