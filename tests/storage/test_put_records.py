"""`MessageStore.put_records` on every store (SQLite, PostgreSQL, memory): messages and parts
written in order in one transaction, each as `put_message` / `put_part` would write it."""

from __future__ import annotations

from tests.storage.test_store_contract import message, part, store, unopened  # noqa: F401 (fixtures)
from wakeful.storage.base import Store


async def test_records_are_written_in_order_as_one_at_a_time_would(store: Store) -> None:  # noqa: F811
    await store.put_message(message("msg_a", "ses_a"))
    await store.put_part(part("prt_1", "msg_a", "ses_a", "old"))
    await store.put_records(
        [
            ("message", message("msg_b", "ses_a", "assistant")),
            ("part", part("prt_3", "msg_b", "ses_a")),
            ("part", part("prt_2", "msg_b", "ses_a")),
            ("part", part("prt_1", "msg_a", "ses_a", "new")),  # an upsert keeps its place
            ("message", {**message("msg_a", "ses_a"), "agent": "build"}),
        ]
    )
    stored = await store.list_messages("ses_a")
    assert [m["info"]["id"] for m in stored] == ["msg_a", "msg_b"]
    assert stored[0]["info"]["agent"] == "build"
    assert [(p["id"], p["text"]) for p in stored[0]["parts"]] == [("prt_1", "new")]
    assert [p["id"] for p in stored[1]["parts"]] == ["prt_3", "prt_2"]
    await store.put_records([])
    assert await store.list_messages("ses_a") == stored
