"""The store contract: every store (SQLite on a file, PostgreSQL, in memory) behaves alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wakeful.errors import ConflictError
from wakeful.storage.base import RunRecord, SessionQuery, Store
from wakeful.storage.memory import MemoryStore
from wakeful.storage.sql import SQLStore
from wakeful.storage.sqlite import SQLite


@pytest.fixture(params=["sqlite", "memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def unopened(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return SQLStore(SQLite(tmp_path / "wakeful.db"))
    if request.param == "postgres":
        made: Store = request.getfixturevalue("postgres_store")
        return made
    return MemoryStore()


@pytest.fixture
async def store(unopened: Store) -> AsyncIterator[Store]:
    await unopened.open()
    yield unopened
    await unopened.close()


def session(
    sid: str, *, title: str = "t", parent: str | None = None, project: str = "p", updated: int = 1
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "id": sid,
        "projectID": project,
        "title": title,
        "time": {"created": updated, "updated": updated},
    }
    if parent is not None:
        info["parentID"] = parent
    return info


def message(mid: str, sid: str, role: str = "user") -> dict[str, Any]:
    return {"id": mid, "sessionID": sid, "role": role}


def part(pid: str, mid: str, sid: str, text: str = "x") -> dict[str, Any]:
    return {"id": pid, "sessionID": sid, "messageID": mid, "type": "text", "text": text}


async def listed(store: Store, **query: Any) -> list[str]:
    return [s["id"] for s in await store.list_sessions(SessionQuery(**query))]


async def message_ids(store: Store, sid: str, **paging: Any) -> list[str]:
    return [m["info"]["id"] for m in await store.list_messages(sid, **paging)]


# --- sessions -------------------------------------------------------------------------------------


async def test_session_round_trip_and_upsert_keeps_its_place(store: Store) -> None:
    assert await store.get_session("ses_a") is None
    for sid in ("ses_b", "ses_a", "ses_c"):
        await store.put_session(session(sid))
    await store.put_session(session("ses_b", title="renamed", updated=5))
    assert await store.get_session("ses_b") == session("ses_b", title="renamed", updated=5)
    assert await listed(store) == ["ses_c", "ses_a", "ses_b"]  # newest first, by insertion


async def test_session_filters(store: Store) -> None:
    await store.put_session(session("ses_1", title="Fix the Parser", updated=10))
    await store.put_session(session("ses_2", title="other", project="q", updated=20))
    await store.put_session(session("ses_3", title="parser child", parent="ses_1", updated=30))
    await store.put_session(session("ses_4", title="ÄRGER 100%_done", updated=40))
    assert await listed(store, project_id="p") == ["ses_4", "ses_3", "ses_1"]
    assert await listed(store, parent_id="ses_1") == ["ses_3"]
    assert await listed(store, roots=True) == ["ses_4", "ses_2", "ses_1"]
    assert await listed(store, search="PARSER") == ["ses_3", "ses_1"]
    assert await listed(store, search="ärger") == ["ses_4"]
    # Search is a plain substring: no wildcards.
    assert await listed(store, search="100%_") == ["ses_4"]
    assert await listed(store, search="0%d") == []
    assert await listed(store, start=20) == ["ses_4", "ses_3", "ses_2"]
    assert await listed(store, limit=2) == ["ses_4", "ses_3"]
    assert await listed(store, limit=0) == []
    assert await listed(store, project_id="p", roots=True, search="e", limit=1) == ["ses_4"]


async def test_delete_session_tree_removes_grandchildren_and_what_they_hold(store: Store) -> None:
    await store.put_session(session("ses_root"))
    await store.put_session(session("ses_child", parent="ses_root"))
    await store.put_session(session("ses_other"))
    await store.put_session(session("ses_grand", parent="ses_child"))
    await store.put_session(session("ses_child2", parent="ses_root"))
    for sid in ("ses_root", "ses_grand", "ses_other"):
        mid = f"msg_{sid}"
        user = message(mid, sid)
        assert (
            await store.claim_run(RunRecord(mid, sid, "prompt", "h"), user, [part(f"prt_{sid}", mid, sid)])
            is None
        )
        await store.set_todos(sid, [{"content": sid, "status": "pending", "priority": "low"}])

    tree = ["ses_grand", "ses_child2", "ses_child", "ses_root"]  # deepest first, newest first
    assert [s["id"] for s in await store.session_tree("ses_root")] == tree
    assert [s["id"] for s in await store.session_tree("ses_child")] == ["ses_grand", "ses_child"]
    removed = await store.delete_session_tree("ses_root")
    assert [s["id"] for s in removed] == tree
    assert removed[0] == session("ses_grand", parent="ses_child")
    for sid in tree:
        assert await store.get_session(sid) is None
        assert await store.list_messages(sid) == []
        assert await store.get_todos(sid) == []
    assert await store.get_run("msg_ses_grand") is None
    assert [r.message_id for r in await store.unfinished_runs()] == ["msg_ses_other"]
    # A removed message id is free again; the unrelated session kept everything.
    assert (
        await store.claim_run(
            RunRecord("msg_ses_grand", "ses_other", "prompt", "h"), message("msg_ses_grand", "ses_other"), []
        )
        is None
    )
    assert await message_ids(store, "ses_other") == ["msg_ses_other", "msg_ses_grand"]
    assert len(await store.get_todos("ses_other")) == 1
    assert await listed(store) == ["ses_other"]
    assert await store.delete_session_tree("ses_root") == []
    assert await store.session_tree("ses_root") == []


# --- messages and parts ---------------------------------------------------------------------------


async def test_lists_follow_insertion_order_not_ids(store: Store) -> None:
    await store.put_session(session("ses_b"))
    for mid in ("msg_zzz", "msg_aaa", "msg_mmm"):
        await store.put_message(message(mid, "ses_b"))
    await store.put_message(message("msg_elsewhere", "ses_other"))
    await store.put_message({**message("msg_zzz", "ses_b"), "role": "assistant"})  # keeps its place
    assert await message_ids(store, "ses_b") == ["msg_zzz", "msg_aaa", "msg_mmm"]
    assert (await store.list_messages("ses_b"))[0]["info"]["role"] == "assistant"
    assert await message_ids(store, "ses_b", limit=2) == ["msg_aaa", "msg_mmm"]
    assert await message_ids(store, "ses_b", before="msg_mmm") == ["msg_zzz", "msg_aaa"]
    assert await message_ids(store, "ses_b", before="msg_mmm", limit=1) == ["msg_aaa"]
    assert await message_ids(store, "ses_b", before="msg_zzz") == []
    assert await message_ids(store, "ses_b", before="msg_unknown") == []
    assert await message_ids(store, "ses_b", limit=0) == []


async def test_message_with_parts(store: Store) -> None:
    await store.put_message(message("msg_1", "ses_a", "assistant"))
    for pid in ("prt_z", "prt_a", "prt_m"):
        await store.put_part(part(pid, "msg_1", "ses_a"))
    await store.put_part(part("prt_z", "msg_1", "ses_a", text="updated"))
    await store.put_part(part("prt_other", "msg_2", "ses_a"))
    got = await store.get_message("ses_a", "msg_1")
    assert got == {
        "info": message("msg_1", "ses_a", "assistant"),
        "parts": [
            part("prt_z", "msg_1", "ses_a", "updated"),
            part("prt_a", "msg_1", "ses_a"),
            part("prt_m", "msg_1", "ses_a"),
        ],
    }
    assert await store.get_message("ses_b", "msg_1") is None
    assert await store.get_message("ses_a", "msg_404") is None

    await store.delete_part("msg_other", "prt_a")  # names another message: nothing happens
    await store.delete_part("msg_1", "prt_a")
    assert [p["id"] for p in (await store.list_messages("ses_a"))[0]["parts"]] == ["prt_z", "prt_m"]

    await store.delete_message("ses_b", "msg_1")  # the wrong session keeps the message
    assert await store.get_message("ses_a", "msg_1") is not None
    await store.delete_message("ses_a", "msg_1")
    assert await store.get_message("ses_a", "msg_1") is None
    await store.put_message(message("msg_1", "ses_a"))
    assert (await store.get_message("ses_a", "msg_1"))["parts"] == []  # type: ignore[index]


async def test_records_come_back_as_copies(store: Store) -> None:
    info = session("ses_a")
    await store.put_session(info)
    info["title"] = "changed by the caller"
    got = await store.get_session("ses_a")
    assert got is not None and got["title"] == "t"
    got["title"] = "changed again"
    assert (await store.get_session("ses_a"))["title"] == "t"  # type: ignore[index]
    await store.put_message(message("msg_1", "ses_a"))
    await store.put_part(part("prt_1", "msg_1", "ses_a"))
    listed_parts = (await store.list_messages("ses_a"))[0]["parts"]
    listed_parts[0]["text"] = "mutated"
    assert (await store.get_message("ses_a", "msg_1"))["parts"][0]["text"] == "x"  # type: ignore[index]


# --- todos ----------------------------------------------------------------------------------------


async def test_todos_replace_the_list(store: Store) -> None:
    assert await store.get_todos("ses_a") == []
    first = [{"content": "a", "status": "pending", "priority": "high"}]
    second = [{"content": "b", "status": "completed", "priority": "low"}, *first]
    await store.set_todos("ses_a", first)
    await store.set_todos("ses_a", second)
    assert await store.get_todos("ses_a") == second
    await store.set_todos("ses_a", [])
    assert await store.get_todos("ses_a") == []


# --- runs -----------------------------------------------------------------------------------------


async def test_claim_is_taken_once(store: Store) -> None:
    record = RunRecord("msg_claim", "ses_c", "prompt", "hash-1", instance="i1", created=7)
    user = message("msg_claim", "ses_c")
    parts = [part("prt_1", "msg_claim", "ses_c"), part("prt_2", "msg_claim", "ses_c")]
    results = await asyncio.gather(*(store.claim_run(record, user, parts) for _ in range(10)))
    assert sum(r is None for r in results) == 1
    assert all(r == record for r in results if r is not None)
    assert await store.get_run("msg_claim") == record
    assert await store.get_message("ses_c", "msg_claim") == {"info": user, "parts": parts}


async def test_claims_arriving_together_settle_each_as_if_alone(store: Store) -> None:
    # A burst: SQLite's writer applies these in one transaction, the free ones in a few statements.
    old = RunRecord("msg_old", "ses_b", "prompt", "h-old")
    await store.claim_run(old, message("msg_old", "ses_b"), [part("prt_old", "msg_old", "ses_b")])
    await store.put_message(message("msg_bare", "ses_b", "assistant"))
    fresh = [
        (RunRecord(f"msg_{i:02}", "ses_b", "prompt", f"h{i}"), message(f"msg_{i:02}", "ses_b"),
         [part(f"prt_{i:02}_a", f"msg_{i:02}", "ses_b"), part(f"prt_{i:02}_b", f"msg_{i:02}", "ses_b")])
        for i in range(40)
    ]
    twice = RunRecord("msg_twice", "ses_b", "prompt", "h-twice")
    results = await asyncio.gather(
        *(store.claim_run(*claim) for claim in fresh),
        store.claim_run(old, message("msg_old", "ses_b"), [part("prt_old", "msg_old", "ses_b")]),  # a retry
        store.claim_run(RunRecord("msg_bare", "ses_b", "prompt", "h"), message("msg_bare", "ses_b"), []),
        store.claim_run(RunRecord("msg_x", "ses_b", "prompt", "h"), message("msg_x", "ses_b"),
                        [part("prt_old", "msg_x", "ses_b")]),  # a part id in use
        *(store.claim_run(twice, message("msg_twice", "ses_b"), []) for _ in range(2)),
        return_exceptions=True,
    )
    assert results[:40] == [None] * 40
    retry, bare, used, *twice_results = results[40:]
    assert retry == old
    assert isinstance(bare, RunRecord) and bare.body_hash == "" and bare.session_id == "ses_b"
    assert isinstance(used, ConflictError) and used.resource == "prt_old"
    assert sorted(twice_results, key=lambda r: r is not None) == [None, twice]
    stored = {m["info"]["id"]: [p["id"] for p in m["parts"]] for m in await store.list_messages("ses_b")}
    assert stored == {
        "msg_old": ["prt_old"],
        "msg_bare": [],
        **{f"msg_{i:02}": [f"prt_{i:02}_a", f"prt_{i:02}_b"] for i in range(40)},
        "msg_twice": [],
    }
    assert await store.get_run("msg_x") is None and await store.get_run("msg_bare") is None


async def test_a_message_no_run_owns_is_a_conflict(store: Store) -> None:
    await store.put_message(message("msg_taken", "ses_c", "assistant"))
    taken = await store.claim_run(
        RunRecord("msg_taken", "ses_d", "prompt", "h"), message("msg_taken", "ses_d"), []
    )
    assert taken is not None and taken.body_hash == "" and taken.session_id == "ses_c"
    assert await store.get_run("msg_taken") is None
    assert await store.get_message("ses_d", "msg_taken") is None


async def test_run_status_and_process_groups(store: Store) -> None:
    for mid in ("msg_1", "msg_2", "msg_3"):
        await store.claim_run(RunRecord(mid, "ses_r", "shell", "h"), message(mid, "ses_r"), [])
    await store.set_run_status("msg_1", "running")
    await store.set_run_pgids("msg_1", [41, 42])
    await store.set_run_pgids("msg_2", [7])
    await store.set_run_status("msg_2", "done")
    await store.set_run_status("msg_404", "done")  # nothing to update: no error, no record
    assert await store.get_run("msg_404") is None
    running = await store.get_run("msg_1")
    assert running is not None and running.status == "running" and running.pgids == [41, 42]
    done = await store.get_run("msg_2")
    assert done is not None and done.status == "done" and done.pgids == []
    assert sorted(r.message_id for r in await store.unfinished_runs()) == ["msg_1", "msg_3"]


async def test_projects_span_their_sessions_newest_update_first(store: Store) -> None:
    def placed(sid: str, project: str, created: int, updated: int) -> dict[str, Any]:
        info = session(sid, project=project, updated=updated)
        info["time"]["created"] = created
        info["directory"] = f"/work/{project}/{sid}"
        return info

    assert await store.projects() == []
    await store.put_session(placed("ses_a1", "a", 10, 10))
    await store.put_session(placed("ses_b1", "b", 20, 20))
    await store.put_session(placed("ses_a2", "a", 30, 40))
    await store.put_session(placed("ses_b1", "b", 20, 25))  # an upsert moves b's span, not its start
    found = await store.projects()
    assert [(p.id, p.directory, p.created, p.updated) for p in found] == [
        ("a", "/work/a/ses_a1", 10, 40),
        ("b", "/work/b/ses_b1", 20, 25),
    ]


# --- permission requests --------------------------------------------------------------------------


def request(rid: str, sid: str) -> dict[str, Any]:
    return {
        "id": rid,
        "sessionID": sid,
        "permission": "bash",
        "patterns": ["ls"],
        "metadata": {},
        "always": [],
    }


async def test_permission_requests_list_in_order_and_clear(store: Store) -> None:
    for rid in ("per_b", "per_a", "per_c"):
        await store.put_permission(request(rid, "ses_1"))
    await store.put_permission({**request("per_b", "ses_1"), "patterns": ["rm x"]})  # keeps its place
    await store.delete_permission("per_c")
    await store.delete_permission("per_unknown")
    listed = await store.list_permissions()
    assert [r["id"] for r in listed] == ["per_b", "per_a"]
    assert listed[0]["patterns"] == ["rm x"]
    assert [r["id"] for r in await store.clear_permissions()] == ["per_b", "per_a"]
    assert await store.list_permissions() == []


async def test_deleting_a_session_tree_deletes_its_permission_requests(store: Store) -> None:
    await store.put_session(session("ses_root"))
    await store.put_session(session("ses_kid", parent="ses_root"))
    await store.put_session(session("ses_other"))
    for rid, sid in (("per_1", "ses_root"), ("per_2", "ses_kid"), ("per_3", "ses_other")):
        await store.put_permission(request(rid, sid))
    await store.delete_session_tree("ses_root")
    assert [r["id"] for r in await store.list_permissions()] == ["per_3"]


# --- leases (replicas on one database) --------------------------------------------------------------


async def claimed(store: Store, mid: str, **fields: Any) -> RunRecord:
    record = RunRecord(mid, fields.pop("session_id", "ses_l"), "prompt", "h", **fields)
    assert await store.claim_run(record, message(mid, record.session_id), []) is None
    return record


async def test_a_claim_keeps_its_lease_host_and_plan(store: Store) -> None:
    plan = {"directory": "/work/p", "deadline": None, "noReply": False}
    record = await claimed(store, "msg_l", instance="i1", lease_until=5_000, host="h1", plan=plan, created=3)
    assert await store.get_run("msg_l") == record
    assert record.resumes == 0


async def test_unfinished_runs_of_one_session_oldest_claim_first(store: Store) -> None:
    await claimed(store, "msg_b", created=20)
    await claimed(store, "msg_a", created=10)
    await claimed(store, "msg_c", created=20)
    await claimed(store, "msg_x", created=5, session_id="ses_other")
    await store.set_run_status("msg_c", "done")
    assert [r.message_id for r in await store.unfinished_runs("ses_l")] == ["msg_a", "msg_b"]
    assert [r.message_id for r in await store.unfinished_runs()] == ["msg_x", "msg_a", "msg_b"]


async def test_leases_are_renewed_only_for_their_owner_and_while_unfinished(store: Store) -> None:
    await claimed(store, "msg_1", instance="i1", lease_until=100)
    await claimed(store, "msg_2", instance="i1", lease_until=100)
    await claimed(store, "msg_3", instance="i2", lease_until=100)
    await store.set_run_status("msg_2", "done")
    renewed = await store.renew_leases("i1", ["msg_1", "msg_2", "msg_3", "msg_404"], 900)
    assert renewed == {"msg_1"}
    leases = {mid: (await store.get_run(mid)).lease_until for mid in ("msg_1", "msg_2", "msg_3")}  # type: ignore[union-attr]
    assert leases == {"msg_1": 900, "msg_2": 100, "msg_3": 100}
    assert await store.renew_leases("i1", [], 900) == set()


async def test_expired_runs_are_the_unfinished_ones_whose_lease_ended(store: Store) -> None:
    await claimed(store, "msg_old", lease_until=100, created=2)
    await claimed(store, "msg_live", lease_until=300, created=1)
    await claimed(store, "msg_older", lease_until=50, created=1)
    await claimed(store, "msg_done", lease_until=50)
    await store.set_run_status("msg_done", "done")
    assert [r.message_id for r in await store.expired_runs(200)] == ["msg_older", "msg_old"]


async def test_a_run_is_taken_over_by_exactly_one_server(store: Store) -> None:
    record = await claimed(store, "msg_t", instance="dead", lease_until=100, host="h0")
    await store.set_run_pgids("msg_t", [41])
    expired = await store.get_run("msg_t")
    assert expired is not None
    wins = await asyncio.gather(*(store.take_over(expired, f"i{k}", f"h{k}", 900 + k) for k in range(5)))
    assert sum(wins) == 1
    winner = wins.index(True)
    taken = await store.get_run("msg_t")
    assert taken is not None
    assert (taken.instance, taken.host, taken.lease_until) == (f"i{winner}", f"h{winner}", 900 + winner)
    assert taken.resumes == 1 and taken.pgids == [] and taken.body_hash == record.body_hash
    # What the dead owner held is gone: a second takeover from the same reading fails.
    assert not await store.take_over(expired, "late", "h9", 999)
    assert await store.take_over(taken, "next", "h9", 999)
    again = await store.get_run("msg_t")
    assert again is not None and again.resumes == 2
