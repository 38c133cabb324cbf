"""Schema migrations: Alembic, run by the store itself when it opens (no alembic.ini, no command).

The revisions live in `storage/migrations/versions/`. `upgrade` runs on a connection the store has
already begun a transaction on, so a migration and everything it checks commit or fail together.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from wakeful.errors import StartupError

log = logging.getLogger("wakeful.storage")

MIGRATIONS = Path(__file__).parent / "migrations"
# What a SQLite database of wakeful's own versioning before Alembic (`schema_version` 1 in its `meta`
# table) holds: exactly the tables of this revision.
LEGACY_REVISION = "0001"


@functools.cache
def scripts() -> ScriptDirectory:
    """The revisions, read once. Reading them means file reads and imports: the stores call this
    in a thread before `upgrade`, which then finds it done."""
    script = ScriptDirectory(str(MIGRATIONS))
    script.get_heads()  # loads every revision file now
    return script


def upgrade(conn: Connection) -> None:
    """Bring the schema on `conn` to the newest revision, inside the transaction `conn` is in.

    A SQLite database of the pre-Alembic `schema_version` 1 is adopted first: stamped at
    LEGACY_REVISION, its `meta` table dropped, its data kept. A database at a revision this wakeful
    does not know was migrated by a newer wakeful: StartupError, and nothing is changed."""
    script = scripts()
    context = MigrationContext.configure(conn)
    if not context.get_current_heads() and conn.dialect.name == "sqlite" and inspect(conn).has_table("meta"):
        _adopt_legacy(conn, context, script)
    current, head = context.get_current_heads(), script.get_current_head()
    if current == (head,):
        return
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise StartupError(
            f"the database schema is at revision {', '.join(unknown)}, newer than this wakeful knows "
            f"({head}): upgrade wakeful"
        )
    log.info("migrating the database schema from %s to %s", current[0] if current else "nothing", head)
    config = Config()
    config.attributes["connection"] = conn
    with EnvironmentContext(
        config,
        script,
        # What `alembic upgrade heads` does, on the revisions already read.
        fn=lambda current, _context: script._upgrade_revs("heads", current),
        destination_rev="heads",
    ):
        script.run_env()


def _adopt_legacy(conn: Connection, context: MigrationContext, script: ScriptDirectory) -> None:
    row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    found = row[0] if row else "none"
    if found != "1":
        raise StartupError(f"the database's schema version ({found}) is unknown to this wakeful: is it newer?")
    context.stamp(script, LEGACY_REVISION)
    conn.execute(text("DROP TABLE meta"))
