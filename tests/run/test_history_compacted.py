"""Unit tests of the compacted view (wakeful.run.history) and of the compaction's choices
(wakeful.run.compaction): which messages the model sees after a summary, which stay verbatim, which
tool outputs are pruned; and a view loaded page by page from the end of a session."""

from __future__ import annotations

from typing import Any

import pytest

from wakeful.project.models import ModelLimits
from wakeful.run import history as history_module
from wakeful.run.compaction import CompactionSettings, prunable, select_tail, turns
from wakeful.run.history import (
    COMPACTION_QUESTION,
    PRUNED_OUTPUT,
    compacted,
    entry_chat,
    load,
    select,
    with_prompt,
)
from wakeful.run.tokens import Window
from wakeful.session.bus import EventBus
from wakeful.session.messages import MessageLog
from wakeful.storage.memory import MemoryStore


def user(mid: str, text: str = "hi") -> dict[str, Any]:
    return {"info": {"id": mid, "role": "user"}, "parts": [{"type": "text", "text": text}]}


def assistant(mid: str, parent: str, text: str = "ok", **info: Any) -> dict[str, Any]:
    return {
        "info": {"id": mid, "role": "assistant", "parentID": parent, **info},
        "parts": [{"type": "text", "text": text}],
    }


def request(mid: str, tail: str | None = None) -> dict[str, Any]:
    part = {"type": "compaction", "auto": True, **({"tail_start_id": tail} if tail else {})}
    return {"info": {"id": mid, "role": "user"}, "parts": [part]}


def summary(mid: str, parent: str, **info: Any) -> dict[str, Any]:
    return assistant(mid, parent, "the summary", summary=True, time={"created": 1, "completed": 2}, **info)


def tool(output: str, **time: int) -> dict[str, Any]:
    state = {"status": "completed", "input": {}, "output": output, "title": "", "metadata": {}}
    return {"type": "tool", "callID": "c", "tool": "bash", "state": {**state, "time": {"start": 1, "end": 2, **time}}}


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["info"]["id"] for m in messages]


def test_the_view_is_the_summary_the_tail_and_what_came_after() -> None:
    stored = [
        user("u1"),
        assistant("a1", "u1"),
        assistant("a2", "u1"),
        request("c1", tail="a2"),
        summary("s1", "c1"),
        assistant("a3", "u1"),
    ]
    assert ids(compacted(stored)) == ["c1", "s1", "a2", "a3"]
    assert ids(with_prompt(compacted(stored), stored[0])) == ["c1", "s1", "u1", "a2", "a3"]
    assert entry_chat(stored[3])[0].text == COMPACTION_QUESTION


def test_a_later_compaction_supersedes_the_earlier_one_and_its_tail() -> None:
    stored = [
        user("u1"),
        assistant("a1", "u1"),
        request("c1", tail="a1"),
        summary("s1", "c1"),
        assistant("a2", "u1"),
        request("c2", tail="a1"),
        summary("s2", "c2"),
        user("u2"),
    ]
    assert ids(compacted(stored)) == ["c2", "s2", "a1", "a2", "u2"]


def test_an_unfinished_or_failed_summary_is_no_boundary_and_is_not_shown() -> None:
    unfinished = assistant("s1", "c1", summary=True, time={"created": 1})
    failed = summary("s1", "c1", error={"name": "APIError", "data": {}})
    for bad in (unfinished, failed):
        assert ids(compacted([user("u1"), assistant("a1", "u1"), request("c1"), bad])) == ["u1", "a1"]
    later = summary("s2", "c2", error={"name": "APIError", "data": {}})
    after = [user("u1"), request("c1", tail="u1"), summary("s1", "c1"), user("u2"), request("c2"), later]
    assert ids(compacted(after)) == ["c1", "s1", "u1", "u2"]


def test_prompts_queued_behind_a_run_are_not_its_history_but_compactions_are() -> None:
    stored = [user("u1"), assistant("a1", "u1"), user("u2"), request("c1"), summary("s1", "c1"), assistant("a2", "u1")]
    assert ids(select(stored, "u1")) == ["u1", "a1", "c1", "s1", "a2"]
    assert ids(select(stored, "c1")) == ids(stored)  # a summarize run sees everything before it


def test_the_tail_is_the_newest_turns_that_fit_split_inside_a_turn_when_needed() -> None:
    stored = [user("u1"), assistant("a1", "u1"), user("u2"), assistant("a2", "u2"), assistant("a3", "u2")]
    spans = turns(stored)
    assert spans == [(0, 2), (2, 5)]
    sizes = [10, 10, 10, 10, 10]
    assert select_tail(sizes, spans, budget=50, tail_turns=2) is None  # everything fits: no split
    assert select_tail(sizes, spans, budget=30, tail_turns=2) == 2  # the newest turn
    assert select_tail(sizes, spans, budget=25, tail_turns=2) == 3  # the newest turn's newest messages
    assert select_tail(sizes, spans, budget=5, tail_turns=2) is None
    assert select_tail(sizes, spans, budget=50, tail_turns=1) == 2
    assert select_tail(sizes, spans, budget=50, tail_turns=0) is None


def test_the_recent_budget_and_settings_from_opencode_json() -> None:
    settings = CompactionSettings.of({"auto": False, "prune": False, "tail_turns": 3, "reserved": 9, "x": 1})
    assert (settings.auto, settings.prune, settings.tail_turns, settings.reserved) == (False, False, 3, 9)
    assert CompactionSettings.of({}) == CompactionSettings()
    big = Window.of(ModelLimits(200_000, 8_000), 8_000, None)
    small = Window.of(ModelLimits(4_000, 400), 400, None)
    assert CompactionSettings().recent_budget(big) == 8_000
    assert CompactionSettings().recent_budget(small) == 2_000
    assert CompactionSettings(preserve_recent_tokens=500).recent_budget(big) == 500
    assert (small.usable, small.reserved, small.summary_max) == (3_600, 400, 400)
    assert small.answer_room(3_700) == 300 and big.answer_room(1_000) == 8_000


def test_pruning_spares_the_last_two_turns_and_needs_enough_to_free() -> None:
    big = "x" * 4 * 30_000  # 30,000 tokens
    old = [{"info": {"id": f"a{i}", "role": "assistant", "parentID": "u0"}, "parts": [tool(big)]} for i in range(3)]
    stored = [user("u0"), *old, user("u1"), assistant("a9", "u1"), user("u2")]
    pruned = prunable(stored)
    # newest first: 30,000 + 30,000 protected up to 40,000, so the oldest two are pruned
    assert [id(p) for p in pruned] == [id(old[1]["parts"][0]), id(old[0]["parts"][0])]
    assert prunable(stored[:2] + stored[4:]) == []  # 30,000 tokens: nothing beyond the protection
    old[2]["parts"][0]["state"]["time"]["compacted"] = 5
    assert prunable(stored) == []  # an already pruned output ends the walk
    assert entry_chat(old[2])[1].text == PRUNED_OUTPUT


class CountingStore(MemoryStore):
    """A MemoryStore that counts the messages its listings answer."""

    def __init__(self) -> None:
        super().__init__()
        self.listed = 0

    async def list_messages(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> list[dict[str, Any]]:
        out = await super().list_messages(session_id, limit, before)
        self.listed += len(out)
        return out


async def stored_in(store: MemoryStore, session_id: str, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        await store.put_message({**entry["info"], "sessionID": session_id})
        for k, part in enumerate(entry["parts"]):
            mid = entry["info"]["id"]
            await store.put_part({**part, "id": f"p{k}{mid}", "messageID": mid, "sessionID": session_id})


async def test_a_view_is_loaded_from_the_end_only_as_far_as_it_reaches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_module, "PAGE", 20)
    store = CountingStore()
    log = MessageLog(store, EventBus())
    history = [user("u0")] + [assistant(f"a{i:03}", "u0") for i in range(90)]
    await stored_in(store, "long", [*history, request("c1", tail="a075"), summary("s1", "c1"), user("u1")])
    view = (await load(log, "long", "u1")).entries
    assert ids(view) == ["c1", "s1", *[f"a{i:03}" for i in range(75, 90)], "u1"]
    assert store.listed == 20  # one page: the summary, its tail and the prompt were all in it
    await stored_in(store, "plain", [*history, user("u1")])
    store.listed = 0
    assert len((await load(log, "plain", "u1")).entries) == 92  # no compaction: everything, page by page
    assert store.listed == 92
