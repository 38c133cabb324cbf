"""What `wakeful serve` does before it answers: no module a start-up does not need, and routes that
build in a thread while the server may already answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.inproc import server_config
from wakeful.run.runtime import Runtime
from wakeful.server.app import create_app
from wakeful.storage.memory import MemoryStore

# Each costs a tenth of a second or more at start-up and is needed only later, if at all.
NOT_AT_START = (
    "alembic",  # a database behind the newest revision
    "aiohttp",  # the provider SDKs' HTTP layer, with the first prompt
    "httpx2",
    "bs4",  # webfetch's first page
    "sqlalchemy.ext.asyncio",  # PostgreSQL
    "sqlalchemy.dialects.postgresql",
    "httpx",  # with rich and pygments: a `?callback=` or webfetch (loaded once the server listens)
    "pathspec",  # the first search, in the tool pool
    "wakeful.server.routes.runs",  # every router but the health check's: in a thread once listening
    "wakeful.server.routes.sessions",
    "wakeful.run.prompt",
)


def test_the_server_module_imports_nothing_it_needs_only_later() -> None:
    script = (
        "import sys\nimport wakeful.server.serve\n"
        f"print(sorted(m for m in {NOT_AT_START!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_an_app_that_does_not_wait_for_its_routes_answers_all_the_same(
    tmp_path: Path, app_project: Path
) -> None:
    config = server_config(tmp_path / "data", app_project)
    app = create_app(config, Runtime.build(config, store=MemoryStore()), routes_at_start=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wakeful") as client:
            assert (await client.get("/global/health")).json()["healthy"] is True
            await app.state.routes_built
            assert (await client.post("/session", json={})).status_code == 200
