"""PostgreSQL for the tests marked `postgres`: a pytest plugin (`-p tests.support.postgres` in
pyproject.toml) and the throwaway cluster it starts.

`make test` runs those tests as its second stage (`pytest -m postgres`); the first stage, like a
plain `pytest`, leaves them out. `postgres_url` is WAKEFUL_TEST_DATABASE_URL when that is set (a
database the tests may empty), else a `Cluster` of the Debian packages' binaries that lives as long as the
test session: initdb and pg_ctl into a new temporary directory, a free loopback port, the unix
socket in that directory, durability off. PostgreSQL refuses to run as root: as root, the cluster
runs as `nobody`.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from sqlalchemy import text

from wakeful.storage.postgres import Postgres
from wakeful.storage.schema import metadata
from wakeful.storage.sql import SQLStore

URL_VARIABLE = "WAKEFUL_TEST_DATABASE_URL"
# A cluster that starts in seconds and loses everything in a crash: nothing here outlives the tests.
THROWAWAY = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian keeps each version apart)."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "pg_ctl").exists()]
    return max(found, key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0), default=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    """`with Cluster(bin_dir) as cluster:` a PostgreSQL server on `cluster.url` (user `wakeful`,
    with a password, over TCP), stopped and removed on exit."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="wakeful-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_hex(8)
        self.url = f"postgresql://wakeful:{self.password}@127.0.0.1:{self.port}/postgres"
        # PostgreSQL refuses to run as root; it runs as `nobody`, in a directory that user owns.
        self._user = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        if self._user is not None:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)

    def _run(self, *args: str) -> None:
        user: dict[str, Any] = {}
        if self._user is not None:
            user = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), "LC_ALL": "C"}
        done = subprocess.run(
            [str(self.bin / args[0]), *args[1:]], cwd=self.root, env=env, capture_output=True, text=True, **user
        )
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr or done.stdout}\n{tail}")

    def __enter__(self) -> Cluster:
        try:
            pwfile = self.root / "password"
            pwfile.write_text(self.password)
            if self._user is not None:
                os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
            self._run(
                "initdb", "-D", str(self.data), "-U", "wakeful", f"--pwfile={pwfile}", "-E", "UTF8",
                "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
            )  # fmt: skip
            options = " ".join(
                ["-c listen_addresses=127.0.0.1", f"-p {self.port}", f"-k {self.root}"]
                + [f"-c {setting}" for setting in THROWAWAY]
            )
            self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options)  # fmt: skip
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# --- the plugin -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for the whole session (see the module docstring)."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        yield given
        return
    bin_dir = binaries()
    if bin_dir is None:
        pytest.skip(f"PostgreSQL is not installed (scripts/ensure-system.sh test) and {URL_VARIABLE} is unset")
    with Cluster(bin_dir) as cluster:
        yield cluster.url


@pytest.fixture(scope="session", autouse=True)
def _postgres_before_the_first_test(request: pytest.FixtureRequest) -> None:
    """Starts the database before any test when some selected test runs on it: started by the first
    such test's own fixtures, its seconds of start-up would count as a stall of that test's loop."""
    wanted = any(item.get_closest_marker("postgres") for item in request.session.items)
    if wanted and (os.environ.get(URL_VARIABLE) or binaries() is not None):
        request.getfixturevalue("postgres_url")


@pytest.fixture
async def postgres_store(postgres_url: str) -> SQLStore:
    """A store on the session's database with every table emptied; not opened yet."""
    janitor = SQLStore(Postgres(postgres_url))
    await janitor.open()
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    await janitor.db.write(lambda conn: conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY")))
    await janitor.close()
    return SQLStore(Postgres(postgres_url))


@pytest.fixture
async def fresh_database(postgres_url: str) -> AsyncIterator[str]:
    """The URL of a new, empty database on the session's server, dropped afterwards."""
    name = f"wakeful_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlsplit(postgres_url)._replace(path=f"/{name}").geturl()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()

