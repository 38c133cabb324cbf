"""The tables of wakeful's first schema (what its pre-Alembic `schema_version` 1 was).

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("seq", BigInt, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String, nullable=False, unique=True),
        sa.Column("project_id", sa.String, nullable=False),
        sa.Column("parent_id", sa.String),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("updated", BigInt, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("sessions_project", "sessions", ["project_id", "seq"])
    op.create_index("sessions_parent", "sessions", ["parent_id"])
    op.create_table(
        "messages",
        sa.Column("seq", BigInt, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String, nullable=False, unique=True),
        sa.Column("session_id", sa.String, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("messages_session", "messages", ["session_id", "seq"])
    op.create_table(
        "parts",
        sa.Column("seq", BigInt, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String, nullable=False, unique=True),
        sa.Column("message_id", sa.String, nullable=False),
        sa.Column("session_id", sa.String, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("parts_message", "parts", ["message_id", "seq"])
    op.create_index("parts_session", "parts", ["session_id"])
    op.create_table(
        "todos",
        sa.Column("session_id", sa.String, primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("message_id", sa.String, primary_key=True),
        sa.Column("session_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("body_hash", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("instance", sa.String, nullable=False),
        sa.Column("pgids", sa.Text, nullable=False),
        sa.Column("created", BigInt, nullable=False),
    )
    op.create_index("runs_status", "runs", ["status"])
    op.create_index("runs_session", "runs", ["session_id"])

