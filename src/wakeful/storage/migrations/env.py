"""Alembic's environment: migrations run on the connection the store hands over, in its transaction.

`wakeful.storage.migrate` puts the connection in `config.attributes["connection"]` and chooses the
target; there is no offline (SQL script) mode and no alembic.ini.
"""

from __future__ import annotations

from alembic import context

from wakeful.storage.schema import metadata

context.configure(connection=context.config.attributes["connection"], target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
