"""Rough edges of a first run of the command line: a refused prompt leaves no session behind, and
`session list` shows ids whole however narrow the terminal."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.cli.test_cli import wakeful
from tests.support.server import WakefulProcess


def session_ids(http: httpx.Client) -> set[str]:
    return {s["id"] for s in http.get("/session").json()}


def test_a_refused_prompt_leaves_no_empty_session(
    server: WakefulProcess, project: Path, http: httpx.Client
) -> None:
    before = session_ids(http)
    done = wakeful("run", "REPLY never", "--model", "nosuch/model", "--url", server.url, cwd=project)
    assert done.returncode == 1
    assert "Unknown provider: nosuch" in done.stderr
    assert session_ids(http) == before
    # A session the user named is theirs: a refusal leaves it as it was.
    sid = http.post("/session", json={}).json()["id"]
    kept = wakeful(
        "run", "REPLY never", "--model", "nosuch/model", "--session", sid, "--url", server.url, cwd=project
    )
    assert kept.returncode == 1 and sid in session_ids(http)


def test_session_list_never_cuts_ids(server: WakefulProcess, project: Path, http: httpx.Client) -> None:
    sid = http.post("/session", json={"title": "a title long enough to be cut " * 4}).json()["id"]
    for columns in ("40", "80"):
        listed = wakeful("session", "list", "--url", server.url, cwd=project, env={"COLUMNS": columns})
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if line.startswith(sid))
        assert row.split()[0] == sid and len(row) <= max(int(columns), len(sid))
