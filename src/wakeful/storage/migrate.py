"""Schema migrations: Alembic, run by the store itself when it opens (no alembic.ini, no command).

The revisions live in `storage/migrations/versions/`. `upgrade` runs on a connection the store has
already begun a transaction on, so a migration and everything it checks commit or fail together.

Alembic (with mako, and every revision file to read) costs a fifth of a second and ~10 MB, and a
server usually opens a database that is already at the newest revision, or an empty one. Neither
needs it: the stored revision is read with a plain query and compared with HEAD, and an empty
database gets the tables of `storage.schema` at once, stamped at HEAD (what Alembic's own cookbook
does for a database built from scratch). tests/storage/test_migrate.py checks that HEAD is
Alembic's head and that the revisions build exactly those tables.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    select,
    text,
)

from wakeful.errors import StartupError
from wakeful.storage.schema import metadata

if TYPE_CHECKING:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

log = logging.getLogger("wakeful.storage")

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in `migrations/versions/`: a new revision file changes it.
HEAD = "0005"
# What a SQLite database of wakeful's own versioning before Alembic (`schema_version` 1 in its `meta`
# table) holds: exactly the tables of this revision.
LEGACY_REVISION = "0001"
# Alembic's version table, as Alembic itself creates it.
_versions = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


@functools.cache
def scripts() -> ScriptDirectory:
    """The revisions, read once. Reading them means file reads and imports: the stores call this
    in a thread before `upgrade` when `needs_alembic` says so, and `upgrade` then finds it done."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    script.get_heads()  # loads every revision file now
    return script


def needs_alembic(conn: Connection) -> bool:
    """Whether `upgrade` on this database will need Alembic: neither at HEAD nor empty."""
    return _state(conn) == "behind"


def _state(conn: Connection) -> str:
    """ "head", "empty" (no tables at all) or "behind" (anything else: older, newer, legacy)."""
    tables = set(inspect(conn).get_table_names())
    if _versions.name in tables:
        stored = conn.execute(select(_versions.c.version_num)).scalars().all()
        return "head" if stored == [HEAD] else "behind"
    return "behind" if tables else "empty"


def upgrade(conn: Connection) -> None:
    """Bring the schema on `conn` to the newest revision, inside the transaction `conn` is in.

    A SQLite database of the pre-Alembic `schema_version` 1 is adopted first: stamped at
    LEGACY_REVISION, its `meta` table dropped, its data kept. A database at a revision this wakeful
    does not know was migrated by a newer wakeful: StartupError, and nothing is changed."""
    state = _state(conn)
    if state == "head":
        return
    if state == "empty":
        log.info("creating the database schema at revision %s", HEAD)
        metadata.create_all(conn)
        _versions.create(conn)
        conn.execute(_versions.insert().values(version_num=HEAD))
        return
    upgrade_with_alembic(conn)


def upgrade_with_alembic(conn: Connection) -> None:
    """`upgrade` by the revisions alone, whatever state the database is in."""
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext

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
