"""`wakeful serve --database-url`: servers on one PostgreSQL database, one after the other, each with
its own data directory, see the same sessions; the password appears nowhere in what they print."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.support.http import prompt, text_of
from tests.support.server import SCRIPTED, WakefulProcess, write_project_config
from wakeful.storage.sql import SQLStore

pytestmark = pytest.mark.postgres


def test_servers_on_one_database_share_its_sessions(
    tmp_path: Path, postgres_store: SQLStore, postgres_url: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_project_config(project, SCRIPTED)
    first = WakefulProcess(tmp_path / "one", project, args=["--database-url", postgres_url]).start()
    try:
        with first.client() as http:
            sid = http.post("/session", json={"title": "shared"}).json()["id"]
            assert text_of(prompt(http, sid, "REPLY stored in PostgreSQL")) == "stored in PostgreSQL"
    finally:
        first.stop()
    second = WakefulProcess(
        tmp_path / "two", project, env={"WAKEFUL_DATABASE_URL": postgres_url}
    ).start()
    try:
        with second.client() as http:
            assert [s["id"] for s in http.get("/session").json()] == [sid]
            listed = http.get(f"/session/{sid}/message").json()
            assert [m["info"]["role"] for m in listed] == ["user", "assistant"]
            assert text_of(listed[1]) == "stored in PostgreSQL"
    finally:
        second.stop()
    password = make_url(postgres_url).password
    assert password is None or all(password not in line for line in first.output + second.output)
    # Each server locked its own data directory; neither made a SQLite database there.
    assert not (tmp_path / "one" / "wakeful.db").exists() and not (tmp_path / "two" / "wakeful.db").exists()
