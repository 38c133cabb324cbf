"""The replicas' mailbox on PostgreSQL: letters numbered per sender, a NOTIFY naming only the sender
and the last number, read in order; a listening connection that is cut comes back and says so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from wakeful.ids import now_ms
from wakeful.storage.mailbox import Mailbox, notification
from wakeful.storage.postgres import Listener, Postgres
from wakeful.storage.sql import SQLStore

pytestmark = pytest.mark.postgres
PATIENCE = 10.0


@pytest.fixture
async def mailbox(postgres_store: SQLStore) -> AsyncIterator[Mailbox]:
    await postgres_store.open()
    assert isinstance(postgres_store.db, Postgres)
    yield Mailbox(postgres_store.db, channel="wakeful_test")
    await postgres_store.close()


async def test_letters_are_read_in_order_after_a_notification_naming_their_last(
    mailbox: Mailbox, postgres_url: str
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    connected = asyncio.Event()

    async def on_connect() -> None:
        connected.set()

    listener = Listener(postgres_url, mailbox.channel, heard.put_nowait, on_connect)
    await listener.start()
    try:
        assert connected.is_set()
        big = {"text": "x" * 20_000}  # far past NOTIFY's 8,000-byte payload limit: only rows carry it
        await mailbox.post("run_a", [(1, "event", {"n": 1}), (2, "event", big)])
        await mailbox.post("run_b", [(1, "done", {"messageID": "msg_1"})])
        payloads = {await asyncio.wait_for(heard.get(), PATIENCE) for _ in range(2)}
        assert {notification(p) for p in payloads} == {("run_a", 2), ("run_b", 1)}
        assert all(len(p) < 100 for p in payloads)
        letters = await mailbox.since("run_a", 0)
        assert [(letter.origin, letter.seq, letter.kind) for letter in letters] == [
            ("run_a", 1, "event"),
            ("run_a", 2, "event"),
        ]
        assert letters[1].data == big
        assert [letter.seq for letter in await mailbox.since("run_a", 1)] == [2]
        assert await mailbox.heads() == {"run_a": 2, "run_b": 1}
        # A batch written again (its commit was not acknowledged) changes nothing.
        await mailbox.post("run_b", [(1, "done", {"messageID": "msg_1"})])
        assert [letter.data for letter in await mailbox.since("run_b", 0)] == [{"messageID": "msg_1"}]
    finally:
        await listener.close()
    assert await mailbox.prune(now_ms() + 1) == 3
    assert await mailbox.heads() == {}


async def test_a_listener_whose_connection_is_cut_reconnects_and_says_so(
    mailbox: Mailbox, postgres_url: str
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    connects: asyncio.Queue[None] = asyncio.Queue()

    async def on_connect() -> None:
        connects.put_nowait(None)

    listener = Listener(postgres_url, mailbox.channel, heard.put_nowait, on_connect, ping=0.2)
    await listener.start()
    try:
        await asyncio.wait_for(connects.get(), PATIENCE)
        admin = await asyncpg.connect(postgres_url)
        try:
            cut = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN%'"
            )
        finally:
            await admin.close()
        assert cut >= 1
        await asyncio.wait_for(connects.get(), PATIENCE)  # reconnected: the owner catches up
        await mailbox.post("run_c", [(1, "event", {})])
        assert notification(await asyncio.wait_for(heard.get(), PATIENCE)) == ("run_c", 1)
    finally:
        await listener.close()


def test_a_payload_that_is_not_ours_names_nothing() -> None:
    assert notification("hello") is None
    assert notification(json.dumps({"o": "run_a"})) is None
    assert notification(json.dumps({"o": "run_a", "s": "7"})) == ("run_a", 7)
