"""Schema migrations: the revisions build exactly `storage.schema`, a database made before Alembic is
adopted with its data, and a database from a newer wakeful is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from wakeful.errors import StartupError
from wakeful.storage import migrate
from wakeful.storage.base import RunRecord, SessionQuery
from wakeful.storage.postgres import Postgres
from wakeful.storage.schema import metadata
from wakeful.storage.sql import SQLStore
from wakeful.storage.sqlite import SQLite

# A database file as wakeful wrote it before Alembic (schema_version 1 in `meta`), dumped as SQL.
LEGACY = Path(__file__).parents[1] / "data" / "legacy-schema-v1.sql"
HEAD = migrate.scripts().get_current_head()


def legacy_database(path: Path) -> Path:
    with sqlite3.connect(path) as raw:
        raw.executescript(LEGACY.read_text())
    return path


def raw_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as raw:
        return raw.execute(sql).fetchall()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> SQLStore:
    """A store on a database that has no tables yet."""
    if request.param == "sqlite":
        return SQLStore(SQLite(tmp_path / "wakeful.db"))
    return SQLStore(Postgres(request.getfixturevalue("fresh_database")))


@pytest.fixture
async def opened(new_store: SQLStore) -> AsyncIterator[SQLStore]:
    await new_store.open()
    yield new_store
    await new_store.close()


def differences(conn: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


def heads(conn: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(conn).get_current_heads())


def test_the_head_revision_known_without_alembic_is_alembics_head() -> None:
    assert migrate.HEAD == migrate.scripts().get_current_head()


async def test_an_empty_database_gets_exactly_the_tables_of_the_schema(opened: SQLStore) -> None:
    assert await opened.db.read(differences) == []
    assert await opened.db.read(heads) == (HEAD,)


async def test_the_revisions_build_exactly_the_tables_of_the_schema(new_store: SQLStore) -> None:
    await new_store.db.write(migrate.upgrade_with_alembic)
    try:
        assert await new_store.db.read(differences) == []
        assert await new_store.db.read(heads) == (HEAD,)
    finally:
        await new_store.close()


async def test_a_database_behind_head_is_migrated_by_alembic(tmp_path: Path) -> None:
    path = tmp_path / "wakeful.db"
    store = SQLStore(SQLite(path))
    await store.open()
    await store.put_session({"id": "ses_x", "projectID": "p", "title": "kept", "time": {"updated": 1}})
    await store.close()
    # Back to revision 0004: without the webhook outbox and the runs' callback column.
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE deliveries")
        raw.execute("ALTER TABLE runs DROP COLUMN callback")
        raw.execute("UPDATE alembic_version SET version_num = '0004'")
    behind = SQLStore(SQLite(path))
    assert await behind.db.read(migrate.needs_alembic)
    await behind.open()
    try:
        assert await behind.db.read(differences) == []
        assert (await behind.get_session("ses_x"))["title"] == "kept"  # type: ignore[index]
        assert not await behind.db.read(migrate.needs_alembic)
    finally:
        await behind.close()
    assert raw_rows(path, "SELECT version_num FROM alembic_version") == [(HEAD,)]


async def test_a_database_from_before_alembic_is_adopted_with_its_data(tmp_path: Path) -> None:
    path = legacy_database(tmp_path / "wakeful.db")
    store = SQLStore(SQLite(path))
    await store.open()
    try:
        assert [s["id"] for s in await store.list_sessions(SessionQuery())] == ["ses_old3", "ses_old2", "ses_old1"]
        assert [s["id"] for s in await store.list_sessions(SessionQuery(search="PARSER"))] == ["ses_old1"]
        # Titles were folded as search folds them now: "Straße" is found as "STRASSE".
        assert [s["id"] for s in await store.list_sessions(SessionQuery(search="ärger mit strasse"))] == ["ses_old2"]
        assert [s["id"] for s in await store.session_tree("ses_old1")] == ["ses_old3", "ses_old1"]
        listed = await store.list_messages("ses_old1")
        assert [m["info"]["id"] for m in listed] == ["msg_b", "msg_a", "msg_c"]
        assert [p["id"] for p in listed[1]["parts"]] == ["prt_msg_a2", "prt_msg_a1"]
        assert await store.get_todos("ses_old1") == [{"content": "x", "status": "pending", "priority": "high"}]
        assert await store.unfinished_runs() == [
            RunRecord("msg_a", "ses_old1", "prompt", "hash-msg_a", "running", "run_x", [4242], 1700000000010)
        ]
        # Insertion order goes on after the old rows.
        await store.put_session({"id": "ses_new", "projectID": "prj", "title": "n", "time": {"updated": 9}})
        assert [s["id"] for s in await store.list_sessions(SessionQuery(limit=2))] == ["ses_new", "ses_old3"]
    finally:
        await store.close()
    tables = {name for (name,) in raw_rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "meta" not in tables
    assert raw_rows(path, "SELECT version_num FROM alembic_version") == [(HEAD,)]


async def test_a_migrated_database_reopens_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "wakeful.db"
    for title in ("kept", None):
        store = SQLStore(SQLite(path))
        await store.open()
        if title:
            await store.put_session({"id": "ses_x", "projectID": "p", "title": title, "time": {"updated": 1}})
        else:
            assert (await store.get_session("ses_x"))["title"] == "kept"  # type: ignore[index]
        await store.close()
    assert raw_rows(path, "SELECT version_num FROM alembic_version") == [(HEAD,)]


async def test_a_database_from_a_newer_wakeful_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "wakeful.db"
    store = SQLStore(SQLite(path))
    await store.open()
    await store.close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    newer = SQLStore(SQLite(path))
    with pytest.raises(StartupError, match="9999, newer than this wakeful knows"):
        await newer.open()
    await newer.close()
    assert raw_rows(path, "SELECT version_num FROM alembic_version") == [("9999",)]


async def test_a_database_of_an_unknown_legacy_version_is_refused_untouched(tmp_path: Path) -> None:
    path = legacy_database(tmp_path / "wakeful.db")
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    store = SQLStore(SQLite(path))
    with pytest.raises(StartupError, match=r"schema version \(2\) is unknown"):
        await store.open()
    await store.close()
    tables = {name for (name,) in raw_rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "meta" in tables and "alembic_version" not in tables
