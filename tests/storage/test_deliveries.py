"""The webhook outbox (DeliveryStore) in every store: stored once, claimed with a lease by one owner,
settled only by the lease's holder, given back by a lease that ends; and, on PostgreSQL, servers
claiming at once never share a delivery."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.storage.test_store_contract import session, store, unopened
from wakeful.storage.base import DeliveryRecord, RunRecord, Settlement, Store
from wakeful.storage.postgres import Postgres
from wakeful.storage.sql import SQLStore

__all__ = ["store", "unopened"]  # fixtures, shared with the store contract


def delivery(did: str, *, sid: str = "ses_a", mid: str | None = "msg_a", due: int = 100) -> DeliveryRecord:
    return DeliveryRecord(
        id=did,
        session_id=sid,
        message_id=mid,
        event="run.finished",
        source="callback",
        url="http://127.0.0.1:9/hook",
        body='{"type":"run.finished","text":"é"}',
        created=due,
        expires=due + 1_000,
        next_attempt=due,
    )


def ids(records: list[DeliveryRecord]) -> list[str]:
    return [r.id for r in records]


async def test_a_delivery_is_stored_once_and_listed_by_its_run(store: Store) -> None:
    first = [delivery("dlv_1"), delivery("dlv_2", mid="msg_b")]
    assert await store.add_deliveries(first) == first
    # Stored again (recovery closing a run a second time): nothing new, the first body stays.
    again = replace(first[0], body="{}")
    assert await store.add_deliveries([again, delivery("dlv_3")]) == [delivery("dlv_3")]
    assert await store.list_deliveries("msg_a") == [first[0], delivery("dlv_3")]
    assert ids(await store.list_deliveries("msg_b")) == ["dlv_2"]
    assert await store.list_deliveries("msg_none") == []


async def test_a_claim_leases_due_deliveries_oldest_first_and_counts_an_attempt(store: Store) -> None:
    await store.add_deliveries(
        [delivery("dlv_late", due=300), delivery("dlv_b", due=200), delivery("dlv_a", due=100)]
    )
    assert await store.next_delivery_due() == 100
    assert await store.claim_deliveries("one", now=50, lease_until=1_050, limit=10) == []  # none due yet
    claimed = await store.claim_deliveries("one", now=250, lease_until=1_250, limit=10)
    assert ids(claimed) == ["dlv_a", "dlv_b"]
    assert all((c.owner, c.lease_until, c.attempts) == ("one", 1_250, 1) for c in claimed)
    # Held: nobody else gets them, and the earliest time anything can be claimed is the late one's.
    assert await store.claim_deliveries("two", now=300, lease_until=1_300, limit=10) == [
        replace(delivery("dlv_late", due=300), owner="two", lease_until=1_300, attempts=1)
    ]
    assert await store.next_delivery_due() == 1_250
    assert ids(await store.claim_deliveries("two", now=400, lease_until=1_400, limit=10)) == []


async def test_the_limit_bounds_a_claim(store: Store) -> None:
    await store.add_deliveries([delivery(f"dlv_{n}", due=n) for n in range(5)])
    assert ids(await store.claim_deliveries("one", now=10, lease_until=99, limit=2)) == ["dlv_0", "dlv_1"]
    assert ids(await store.claim_deliveries("one", now=10, lease_until=99, limit=0)) == []
    assert ids(await store.claim_deliveries("one", now=10, lease_until=99, limit=9)) == [
        "dlv_2",
        "dlv_3",
        "dlv_4",
    ]


async def test_only_the_lease_holder_settles_and_a_settled_delivery_is_left_alone(store: Store) -> None:
    await store.add_deliveries([delivery("dlv_a")])
    (claimed,) = await store.claim_deliveries("one", now=100, lease_until=200, limit=1)
    retry = Settlement("pending", 500, last_status=500)
    assert not await store.settle_delivery("dlv_a", "two", claimed.attempts, retry)  # not its lease
    assert not await store.settle_delivery("dlv_a", "one", claimed.attempts + 1, retry)  # not this attempt
    assert await store.settle_delivery("dlv_a", "one", claimed.attempts, retry)
    (pending,) = await store.list_deliveries("msg_a")
    assert (
        pending.status,
        pending.next_attempt,
        pending.last_status,
        pending.owner,
        pending.lease_until,
    ) == (
        "pending",
        500,
        500,
        None,
        0,
    )
    assert await store.claim_deliveries("one", now=499, lease_until=999, limit=1) == []  # not due yet
    (second,) = await store.claim_deliveries("one", now=500, lease_until=900, limit=1)
    assert second.attempts == 2
    done = Settlement("delivered", 500, last_status=204, ended=510)
    assert await store.settle_delivery("dlv_a", "one", 2, done)
    assert not await store.settle_delivery("dlv_a", "one", 2, done)  # its lease ended with the first
    (delivered,) = await store.list_deliveries("msg_a")
    assert (delivered.status, delivered.ended, delivered.attempts) == ("delivered", 510, 2)
    assert await store.next_delivery_due() is None
    assert await store.claim_deliveries("one", now=10_000, lease_until=20_000, limit=1) == []


async def test_a_lease_that_ran_out_is_taken_over_and_the_old_holder_can_no_longer_settle(
    store: Store,
) -> None:
    await store.add_deliveries([delivery("dlv_a")])
    (first,) = await store.claim_deliveries("dead", now=100, lease_until=200, limit=1)
    assert await store.claim_deliveries("alive", now=199, lease_until=299, limit=1) == []
    (taken,) = await store.claim_deliveries("alive", now=200, lease_until=300, limit=1)
    assert (taken.owner, taken.attempts) == ("alive", 2)
    assert not await store.settle_delivery("dlv_a", "dead", first.attempts, Settlement("delivered", 0, 200))
    assert await store.settle_delivery(
        "dlv_a", "alive", taken.attempts, Settlement("failed", 0, 500, ended=250)
    )
    (failed,) = await store.list_deliveries("msg_a")
    assert (failed.status, failed.last_status, failed.owner) == ("failed", 500, None)


async def test_deleting_a_session_deletes_its_deliveries_sent_or_not(store: Store) -> None:
    for sid in ("ses_a", "ses_b"):
        await store.put_session(session(sid))
        mid = f"msg_{sid}"
        await store.claim_run(
            RunRecord(mid, sid, "prompt", "h"), {"id": mid, "sessionID": sid, "role": "user"}, []
        )
    await store.add_deliveries(
        [
            delivery("dlv_a1", sid="ses_a", mid="msg_ses_a"),
            delivery("dlv_a2", sid="ses_a", mid="msg_ses_a", due=50),
            delivery("dlv_b", sid="ses_b", mid="msg_ses_b"),
        ]
    )
    (claimed,) = await store.claim_deliveries("one", now=50, lease_until=60, limit=1)
    await store.settle_delivery(claimed.id, "one", 1, Settlement("delivered", 50, 200, ended=55))
    await store.delete_session_tree("ses_a")
    assert await store.list_deliveries("msg_ses_a") == []
    assert ids(await store.list_deliveries("msg_ses_b")) == ["dlv_b"]


async def test_a_run_keeps_its_callback(store: Store) -> None:
    user = {"id": "msg_a", "sessionID": "ses_a", "role": "user"}
    run = RunRecord("msg_a", "ses_a", "prompt", "h", callback="http://127.0.0.1:9/hook")
    assert await store.claim_run(run, user, []) is None
    stored = await store.get_run("msg_a")
    assert stored is not None and stored.callback == "http://127.0.0.1:9/hook"
    assert [r.callback for r in await store.unfinished_runs()] == ["http://127.0.0.1:9/hook"]


@pytest.mark.postgres
async def test_servers_claiming_at_once_never_share_a_delivery(
    postgres_store: SQLStore, postgres_url: str
) -> None:
    servers = [postgres_store, *(SQLStore(Postgres(postgres_url)) for _ in range(2))]
    await asyncio.gather(*(s.open() for s in servers))
    try:
        await servers[0].add_deliveries([delivery(f"dlv_{n:03d}", due=n) for n in range(200)])
        claims = await asyncio.gather(
            *(
                server.claim_deliveries(f"server-{i}-{round_}", now=1_000, lease_until=9_000, limit=7)
                for round_ in range(12)
                for i, server in enumerate(servers)
            )
        )
        claimed = [record.id for claim in claims for record in claim]
        assert len(claimed) == len(set(claimed)), "a delivery was claimed twice"
        assert len(claimed) == 200
        assert {record.attempts for claim in claims for record in claim} == {1}
    finally:
        await asyncio.gather(*(s.close() for s in servers))
