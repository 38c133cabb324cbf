"""Replicas on one database: run leases (owner until when, on which host, how often resumed, what a
resumption needs) and the mailbox the replicas tell each other what happened through.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("runs", sa.Column("lease_until", BigInt, nullable=False, server_default="0"))
    op.add_column("runs", sa.Column("host", sa.String, nullable=False, server_default=""))
    op.add_column("runs", sa.Column("resumes", sa.Integer, nullable=False, server_default="0"))
    op.add_column("runs", sa.Column("plan", sa.Text, nullable=False, server_default="{}"))
    op.create_table(
        "mailbox",
        sa.Column("origin", sa.String, primary_key=True),
        sa.Column("seq", BigInt, primary_key=True, autoincrement=False),
        sa.Column("created", BigInt, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("mailbox_created", "mailbox", ["created"])
