"""Tables and schema migrations.

Records are stored as JSON text (`data`) next to the few columns that are filtered or ordered on.
`seq` is the insertion order every list uses. `schema_version` in `meta` says which migrations ran;
a migration is appended to MIGRATIONS, never edited.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)

metadata = MetaData()

meta = Table("meta", metadata, Column("key", String, primary_key=True), Column("value", Text, nullable=False))

sessions = Table(
    "sessions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("project_id", String, nullable=False),
    Column("parent_id", String),
    Column("title", Text, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("data", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("sessions_project", sessions.c.project_id, sessions.c.seq)
Index("sessions_parent", sessions.c.parent_id)

messages = Table(
    "messages",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("session_id", String, nullable=False),
    Column("data", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("messages_session", messages.c.session_id, messages.c.seq)

parts = Table(
    "parts",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("message_id", String, nullable=False),
    Column("session_id", String, nullable=False),
    Column("data", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("parts_message", parts.c.message_id, parts.c.seq)
Index("parts_session", parts.c.session_id)

todos = Table(
    "todos", metadata, Column("session_id", String, primary_key=True), Column("data", Text, nullable=False)
)

runs = Table(
    "runs",
    metadata,
    Column("message_id", String, primary_key=True),
    Column("session_id", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("body_hash", String, nullable=False),
    Column("status", String, nullable=False),
    Column("instance", String, nullable=False),
    Column("pgids", Text, nullable=False, default="[]"),
    Column("created", Integer, nullable=False),
)
Index("runs_status", runs.c.status)
Index("runs_session", runs.c.session_id)


permissions = Table(
    "permissions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("session_id", String, nullable=False),
    Column("data", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("permissions_session", permissions.c.session_id)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


def _v2(conn: Connection) -> None:
    permissions.create(conn, checkfirst=True)  # a fresh database got it from _v1 already


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before."""
    meta.create(conn, checkfirst=True)
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    found = int(row[0]) if row else 0
    if found > SCHEMA_VERSION:
        raise RuntimeError(f"database schema {found} is newer than this wakeful ({SCHEMA_VERSION})")
    for version in range(found, SCHEMA_VERSION):
        MIGRATIONS[version](conn)
    if found != SCHEMA_VERSION:
        if row:
            conn.execute(
                meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
            )
        else:
            conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
    return found
