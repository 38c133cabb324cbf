"""Webhooks: the `callback` URL of a run, and the outbox of deliveries.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("runs", sa.Column("callback", sa.Text))
    op.create_table(
        "deliveries",
        sa.Column("seq", BigInt, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String, nullable=False, unique=True),
        sa.Column("session_id", sa.String, nullable=False),
        sa.Column("message_id", sa.String),
        sa.Column("event", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created", BigInt, nullable=False),
        sa.Column("expires", BigInt, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", BigInt, nullable=False),
        sa.Column("owner", sa.String),
        sa.Column("lease_until", BigInt, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("ended", BigInt),
        sqlite_autoincrement=True,
    )
    op.create_index("deliveries_due", "deliveries", ["status", "next_attempt"])
    op.create_index("deliveries_message", "deliveries", ["message_id", "seq"])
    op.create_index("deliveries_session", "deliveries", ["session_id"])
