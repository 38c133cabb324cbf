"""`wakeful serve --database-url`: the server keeps its sessions in PostgreSQL, where every other
server on that database (here, a store of the test's own) finds them, and prints no password."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.support.http import prompt, text_of
from tests.support.server import SCRIPTED, WakefulProcess, write_project_config
from wakeful.storage.postgres import Postgres
from wakeful.storage.sql import SQLStore

pytestmark = pytest.mark.postgres


async def stored(url: str, session_id: str) -> list[dict[str, object]]:
    store = SQLStore(Postgres(url))
    await store.open()
    try:
        return await store.list_messages(session_id)
    finally:
        await store.close()


def test_a_server_on_a_database_url_keeps_its_sessions_there(
    tmp_path: Path, postgres_store: SQLStore, postgres_url: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_project_config(project, SCRIPTED)
    server = WakefulProcess(tmp_path / "data", project, args=["--database-url", postgres_url]).start()
    try:
        with server.client() as http:
            sid = http.post("/session", json={"title": "shared"}).json()["id"]
            assert text_of(prompt(http, sid, "REPLY stored in PostgreSQL")) == "stored in PostgreSQL"
    finally:
        server.stop()
    messages = asyncio.run(stored(postgres_url, sid))
    assert [m["info"]["role"] for m in messages] == ["user", "assistant"]  # type: ignore[index]
    assert text_of(messages[1]) == "stored in PostgreSQL"
    password = make_url(postgres_url).password
    assert password is None or all(password not in line for line in server.output)
    assert not (tmp_path / "data" / "wakeful.db").exists()
