"""wakeful.run.runtime: the store is chosen from the config, and only there."""

from __future__ import annotations

from pathlib import Path

from wakeful.config import ServerConfig
from wakeful.run.runtime import config_store
from wakeful.storage.postgres import Postgres
from wakeful.storage.sql import SQLStore
from wakeful.storage.sqlite import SQLite


def test_sqlite_in_the_data_directory_unless_a_database_url_is_given(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    default = config_store(ServerConfig.build(home, data_dir=tmp_path))
    assert isinstance(default, SQLStore) and isinstance(default.db, SQLite)
    assert default.db.path == tmp_path / "wakeful.db"
    shared = config_store(ServerConfig.build(home, data_dir=tmp_path, database_url="postgres://u:pw@db:5433/app"))
    assert isinstance(shared, SQLStore) and isinstance(shared.db, Postgres)
    assert shared.db.url == "postgres://u:***@db:5433/app"
