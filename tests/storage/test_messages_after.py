"""`MessageStore.messages_after` on every store (SQLite, PostgreSQL, memory): what a session stored
after one of its messages, in insertion order, and None when that message is not the session's."""

from __future__ import annotations

from tests.storage.test_store_contract import message, part, store, unopened  # noqa: F401 (fixtures)
from wakeful.storage.base import Store


async def test_messages_after_one_of_the_session(store: Store) -> None:  # noqa: F811
    for mid in ("msg_zzz", "msg_aaa", "msg_mmm", "msg_bbb"):
        await store.put_message(message(mid, "ses_a"))
    await store.put_message(message("msg_other", "ses_b"))
    await store.put_part(part("prt_2", "msg_mmm", "ses_a"))
    await store.put_part(part("prt_1", "msg_mmm", "ses_a"))
    await store.put_message({**message("msg_aaa", "ses_a"), "role": "assistant"})  # keeps its place

    after = await store.messages_after("ses_a", "msg_aaa")
    assert after is not None
    assert [m["info"]["id"] for m in after] == ["msg_mmm", "msg_bbb"]
    assert [p["id"] for p in after[0]["parts"]] == ["prt_2", "prt_1"]
    assert after == (await store.list_messages("ses_a"))[2:]
    assert await store.messages_after("ses_a", "msg_bbb") == []
    assert await store.messages_after("ses_a", "msg_other") is None  # another session's
    assert await store.messages_after("ses_a", "msg_unknown") is None
    await store.delete_message("ses_a", "msg_aaa")
    assert await store.messages_after("ses_a", "msg_aaa") is None
