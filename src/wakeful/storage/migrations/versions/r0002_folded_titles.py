"""Sessions are searched by their folded title, the same in every database whatever its collation.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wakeful.storage.base import fold

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("sessions", "title", new_column_name="title_folded")
    sessions = sa.table("sessions", sa.column("id", sa.String), sa.column("title_folded", sa.Text))
    conn = op.get_bind()
    folded = [
        {"sid": sid, "folded": fold(title)}
        for sid, title in conn.execute(sa.select(sessions.c.id, sessions.c.title_folded))
    ]
    if folded:
        stmt = sessions.update().where(sessions.c.id == sa.bindparam("sid"))
        conn.execute(stmt.values(title_folded=sa.bindparam("folded")), folded)

