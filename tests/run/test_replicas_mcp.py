"""The `mcp` letter, without a database: a change the API makes to a project's MCP servers on one
replica goes into its outbox as a letter, and another replica that receives the letter makes the
same change to its own McpManager, in the order the letters came."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.inproc import InProcess, ok
from wakeful.mcp.changes import McpAdded, McpSwitched
from wakeful.mcp.manager import McpManager
from wakeful.run.replicas import Replicas
from wakeful.storage.mailbox import Letter, Mailbox
from wakeful.storage.postgres import Postgres
from wakeful.wire.mcp import McpRemoteConfig, MCPStatus

UNREACHABLE = "http://127.0.0.1:9/mcp"  # never reached: the tests' servers are never started


class Pair:
    """Replica `b` (the in-process app's runtime) and replica `a`, whose McpManager is its own; the
    letters `b` posts are handed to `a` by `deliver`. Neither is started: nothing reads the database."""

    def __init__(self, wakeful: InProcess, db: Postgres) -> None:
        runtime = wakeful.runtime
        config = runtime.config.model_copy(update={"database_url": "postgresql://wakeful@127.0.0.1:9/none"})
        self.project = wakeful.project
        self.a_mcp = McpManager(config, runtime.bus, runtime.child_env)

        def replica(name: str, mcp: McpManager) -> Replicas:
            services = (runtime.bus, runtime.runs, runtime.permissions, mcp, runtime.projects)
            return Replicas(config, name, runtime.store, Mailbox(db), *services)

        self.b, self.a = replica("b", runtime.mcp), replica("a", self.a_mcp)
        runtime.mcp.changed = self.b.mcp_changed  # as Runtime.build wires its cluster

    async def deliver(self) -> list[str]:
        """Hand `b`'s letters to `a`, wait until `a` has acted on them; answer their kinds."""
        letters = [Letter("b", seq, kind, data) for seq, kind, data in self.b._outbox]
        self.b._outbox.clear()
        for letter in letters:
            self.a._receive(letter)
        await asyncio.gather(*self.a._spawned)
        return [letter.kind for letter in letters]


@pytest.fixture
async def pair(wakeful: InProcess) -> AsyncIterator[Pair]:
    db = Postgres("postgresql://wakeful@127.0.0.1:9/none")  # never connected
    try:
        yield Pair(wakeful, db)
    finally:
        await db.close()


async def test_mcp_routes_on_one_replica_are_made_on_the_other(wakeful: InProcess, pair: Pair) -> None:
    entry = {"type": "remote", "url": UNREACHABLE, "enabled": False}
    added = ok(await wakeful.client.post("/mcp", json={"name": "ops", "config": entry}))
    assert added == {"ops": {"status": "disabled"}}  # the local answer, as without replicas
    assert await pair.deliver() == ["mcp"]
    assert await pair.a_mcp.status(wakeful.runtime.projects.load(pair.project)) == {
        "ops": MCPStatus(status="disabled")
    }

    assert ok(await wakeful.client.post("/mcp/ops/disconnect")) is True
    assert await pair.deliver() == ["mcp"]
    # A server the project does not have is refused here and told to no one.
    assert (await wakeful.client.post("/mcp/nowhere/connect")).status_code == 404
    assert await pair.deliver() == []


async def test_changes_are_made_in_the_order_they_were_posted(wakeful: InProcess, pair: Pair) -> None:
    # Added enabled, then disconnected: in this order the server is `disabled` and never started;
    # the other way round the disconnect would find no server and the add would start it.
    config = McpRemoteConfig.model_validate({"type": "remote", "url": UNREACHABLE})
    pair.b.mcp_changed(pair.project, McpAdded(name="ops", config=config))
    pair.b.mcp_changed(pair.project, McpSwitched(name="ops", on=False))
    assert await pair.deliver() == ["mcp", "mcp"]
    project = wakeful.runtime.projects.load(pair.project)
    assert await pair.a_mcp.status(project) == {"ops": MCPStatus(status="disabled")}


async def test_a_malformed_letter_is_logged_and_skipped(
    wakeful: InProcess, pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    pair.a._receive(Letter("b", 1, "mcp", {"directory": str(pair.project), "change": {"kind": "rename"}}))
    assert "is malformed" in caplog.text
    assert await pair.a_mcp.status(wakeful.runtime.projects.load(pair.project)) == {}
