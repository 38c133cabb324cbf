"""The one schema of every SQL store, SQLite and PostgreSQL alike, in SQLAlchemy Core.

Records are stored as JSON text (`data`) next to the few columns that are filtered or ordered on.
`seq` is the insertion order every list uses. `title_folded` is the session title as `base.fold`
folds it, so that search means the same in every database whatever its collation.

These tables change only together with a new Alembic revision (`storage/migrations/versions/`):
tests/storage/test_migrate.py fails when the revisions do not build exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

# 64-bit everywhere: PostgreSQL's INTEGER is 32-bit, too small for milliseconds. SQLite's integers
# are 64-bit whatever the declared type, and only a column declared exactly INTEGER PRIMARY KEY is
# its rowid, which AUTOINCREMENT needs.
BigInt = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

sessions = Table(
    "sessions",
    metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("project_id", String, nullable=False),
    Column("parent_id", String),
    Column("title_folded", Text, nullable=False),
    Column("updated", BigInt, nullable=False),
    Column("data", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("sessions_project", sessions.c.project_id, sessions.c.seq)
Index("sessions_parent", sessions.c.parent_id)

messages = Table(
    "messages",
    metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("session_id", String, nullable=False),
    Column("data", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("messages_session", messages.c.session_id, messages.c.seq)

parts = Table(
    "parts",
    metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=True),
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

# The primary key is the idempotency claim: of any number of servers claiming one message id, the
# database lets exactly one insert it. `instance` owns the run until `lease_until` (ms, renewed while
# it runs, 0 on a server without replicas); `host` is the machine its `pgids` belong to; `plan` is
# what resuming it needs beyond its stored user message (run/takeover.py).
runs = Table(
    "runs",
    metadata,
    Column("message_id", String, primary_key=True),
    Column("session_id", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("body_hash", String, nullable=False),
    Column("status", String, nullable=False),
    Column("instance", String, nullable=False),
    Column("pgids", Text, nullable=False),
    Column("created", BigInt, nullable=False),
    Column("lease_until", BigInt, nullable=False, server_default="0"),
    Column("host", String, nullable=False, server_default=""),
    Column("resumes", Integer, nullable=False, server_default="0"),
    Column("plan", Text, nullable=False, server_default="{}"),
    Column("callback", Text),
)
Index("runs_status", runs.c.status)
Index("runs_session", runs.c.session_id)


# Pending permission requests (`run/permissions.py`): one row while a run waits for a reply.
permissions = Table(
    "permissions",
    metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("session_id", String, nullable=False),
    Column("data", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("permissions_session", permissions.c.session_id)

# The webhook outbox (`run/webhooks`): one row per delivery, stored before it is first sent.
deliveries = Table(
    "deliveries",
    metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("session_id", String, nullable=False),
    Column("message_id", String),
    Column("event", String, nullable=False),
    Column("source", String, nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created", BigInt, nullable=False),
    Column("expires", BigInt, nullable=False),
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInt, nullable=False),
    Column("owner", String),
    Column("lease_until", BigInt, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("ended", BigInt),
    sqlite_autoincrement=True,
)
Index("deliveries_due", deliveries.c.status, deliveries.c.next_attempt)
Index("deliveries_message", deliveries.c.message_id, deliveries.c.seq)
Index("deliveries_session", deliveries.c.session_id)

# What replicas on one PostgreSQL database tell each other (storage/mailbox.py): events and control
# messages, numbered per sender (`origin`, `seq`), announced by a NOTIFY that carries only those two.
mailbox = Table(
    "mailbox",
    metadata,
    Column("origin", String, primary_key=True),
    Column("seq", BigInt, primary_key=True, autoincrement=False),
    Column("created", BigInt, nullable=False),
    Column("kind", String, nullable=False),
    Column("data", Text, nullable=False),
)
Index("mailbox_created", mailbox.c.created)
