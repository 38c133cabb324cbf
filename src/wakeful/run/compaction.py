"""Compaction: how a run outlives its model's context window, as the reference does it.

When the next request would not fit the usable window, the older history is summarised by the
model and the run goes on from the summary and the recent tail. The summary is always stored as the
reference stores it: a user message with a `compaction` part (`auto`, `overflow`, `tail_start_id`)
and an assistant message answering it with `summary: true` (mode and agent `compaction`); then
`session.compacted` goes out. What stays verbatim is chosen like the reference's: the last
`tail_turns` turns (a turn is a prompt and its answers), newest first, as long as they fit in the
recent budget (`preserve_recent_tokens`, by default a quarter of the usable window, between 2,000
and 8,000 tokens); a turn too large for what is left keeps only its newest messages that fit.

wakeful loses less than the reference on the way: the run's own prompt is shown again after the
summary (see `wakeful.run.history`), the summary request clips each tool output rather than
dropping the history, and tool outputs too long for the model were kept whole on disk in the first
place (`wakeful.tools.output`). The summary request is made to fit the window itself: if the history
to summarise is too large even with clipped outputs, its oldest messages are left out (the previous
summary last).

Pruning (`compaction.prune`, on by default) comes in addition, at the end of a run: completed tool
outputs older than the newest 40,000 tokens of them, outside the last two turns and after the last
summary, are replaced by a placeholder, and only when that frees more than 20,000 tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wakeful import ids
from wakeful.errors import ContextOverflowError
from wakeful.ids import now_ms
from wakeful.project.catalog import ModelChoice
from wakeful.providers.base import ChatMessage, ChatRequest
from wakeful.run.history import (
    Entry,
    Files,
    is_compaction,
    is_summary,
    to_chat,
)
from wakeful.run.system import COMPACTION
from wakeful.run.tokens import Window, message_tokens, messages_tokens, text_tokens
from wakeful.session.messages import MessageLog
from wakeful.wire.messages import AssistantMessage, ModelRef, UserMessage, UserTime
from wakeful.wire.parts import CompactionPart

DEFAULT_TAIL_TURNS = 2
RECENT_MIN, RECENT_MAX = 2_000, 8_000
PRUNE_MINIMUM = 20_000
PRUNE_PROTECT = 40_000
PRUNE_PROTECTED_TOOLS = frozenset({"skill"})
SUMMARY_TOOL_OUTPUT_CHARS = 2_000  # a tool output in the summary request is clipped to this


@dataclass(frozen=True)
class CompactionSettings:
    """The `compaction` section of opencode.json."""

    auto: bool = True
    prune: bool = True
    tail_turns: int = DEFAULT_TAIL_TURNS
    preserve_recent_tokens: int | None = None
    reserved: int | None = None

    @classmethod
    def of(cls, section: Mapping[str, Any]) -> CompactionSettings:
        def count(key: str) -> int | None:
            value = section.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

        tail = count("tail_turns")
        return cls(
            auto=section.get("auto") is not False,
            prune=section.get("prune") is not False,
            tail_turns=DEFAULT_TAIL_TURNS if tail is None else tail,
            preserve_recent_tokens=count("preserve_recent_tokens"),
            reserved=count("reserved"),
        )

    def recent_budget(self, window: Window) -> int:
        if self.preserve_recent_tokens is not None:
            return self.preserve_recent_tokens
        return min(RECENT_MAX, max(RECENT_MIN, window.usable // 4))


def turns(entries: list[Entry]) -> list[tuple[int, int]]:
    """(start, end) of each turn: a prompt (not a compaction request) and what follows it."""
    starts = [i for i, m in enumerate(entries) if m["info"]["role"] == "user" and not is_compaction(m)]
    return [(s, starts[k + 1] if k + 1 < len(starts) else len(entries)) for k, s in enumerate(starts)]


def select_tail(sizes: list[int], spans: list[tuple[int, int]], budget: int, tail_turns: int) -> int | None:
    """Where the verbatim tail starts (None: everything is summarised). `sizes` are the entries'
    estimated tokens and `spans` their turns."""
    if tail_turns <= 0 or not spans:
        return None
    total = 0
    keep: int | None = None
    for start, end in reversed(spans[-tail_turns:]):
        size = sum(sizes[start:end])
        if total + size <= budget:
            total += size
            keep = start
            continue
        suffix = 0
        for index in range(end - 1, start, -1):  # the turn's newest messages that still fit
            suffix += sizes[index]
            if total + suffix > budget:
                break
            keep = index
        break
    return None if not keep else keep


def split(
    entries: list[tuple[Entry, int]],
    settings: CompactionSettings,
    window: Window,
    fixed: int,
    calibration: float,
) -> tuple[list[Entry], list[Entry]]:
    """(head to summarise, verbatim tail) of a view given as (message, estimated tokens) pairs.
    `fixed` is what stays besides them (system, tools, a pinned prompt). The tail gets the recent
    budget, but at most half of what the window has left once the fixed part and a summary are
    counted: the run needs room to grow before its next compaction."""
    messages = [e for e, _ in entries]
    budget = settings.recent_budget(window)
    if window.known:
        room = window.usable / calibration - fixed - window.summary_max
        budget = min(budget, max(0, int(room)) // 2)
    start = select_tail([size for _, size in entries], turns(messages), budget, settings.tail_turns)
    return (messages, []) if start is None else (messages[:start], messages[start:])


def prunable(entries: list[Entry], tokens: int | None = None) -> list[dict[str, Any]]:
    """The completed tool parts to prune, newest first; [] when pruning would free too little.
    `tokens`, the entries' estimate if known, spares the scan of a view too small to prune: the
    outputs it would count are part of that estimate."""
    if tokens is not None and tokens <= PRUNE_PROTECT:
        return []
    total = pruned = 0
    found: list[dict[str, Any]] = []
    seen_turns = 0
    for entry in reversed(entries):
        if entry["info"]["role"] == "user":
            seen_turns += 1
        if seen_turns < 2:
            continue
        if is_summary(entry):
            break
        for part in reversed(entry["parts"]):
            state = part.get("state") or {}
            if part["type"] != "tool" or state.get("status") != "completed":
                continue
            if part["tool"] in PRUNE_PROTECTED_TOOLS:
                continue
            if (state.get("time") or {}).get("compacted"):
                return found if pruned > PRUNE_MINIMUM else []
            size = text_tokens(len(state.get("output", "")))
            total += size
            if total > PRUNE_PROTECT:
                pruned += size
                found.append(part)
    return found if pruned > PRUNE_MINIMUM else []


# Streams one model call into a stored assistant message, framed as a step (see AgentLoop._call).
Call = Callable[[AssistantMessage, ChatRequest], Awaitable[str]]


@dataclass
class Compactor:
    """Stores compactions of one session's history with one model."""

    log: MessageLog
    session_id: str
    directory: Path
    model: ModelChoice
    agent: str
    variant: str | None
    window: Window
    options: dict[str, Any]
    call: Call
    files: Files  # the conversation's file:// parts, as the run read them

    async def request(self, *, auto: bool, overflow: bool, tail_start_id: str | None) -> Entry:
        """Store the compaction request (a user message with a `compaction` part)."""
        message = UserMessage(
            id=ids.message_id(),
            sessionID=self.session_id,
            time=UserTime(created=now_ms()),
            agent=self.agent,
            model=ModelRef(
                providerID=self.model.provider.id, modelID=self.model.model_id, variant=self.variant
            ),
        )
        part = CompactionPart(
            id=ids.part_id(),
            sessionID=self.session_id,
            messageID=message.id,
            auto=auto,
            overflow=overflow or None,
            tail_start_id=tail_start_id,
        )
        await self.log.put_message(message)
        await self.log.put_part(part)
        return {"info": message.wire(), "parts": [part.wire()]}

    def summary_request(self, head: list[Entry]) -> ChatRequest:
        """The request for a summary of `head`, made to fit the window with room for the answer."""
        instruction = ChatMessage(role="user", text=COMPACTION)
        limit = self.window.context - self.window.summary_max if self.window.known else None
        keep = list(head)
        anchored = len(keep) >= 2 and is_compaction(keep[0])  # the previous summary goes last
        dropped = 0
        while True:
            chat = to_chat(keep, self.files, clip=SUMMARY_TOOL_OUTPUT_CHARS)
            if dropped:
                note = (
                    f"[{dropped} older messages were left out to fit this request into the context window.]"
                )
                chat.insert(2 if anchored else 0, ChatMessage(role="user", text=note))
            size = messages_tokens(chat) + message_tokens(instruction)
            if limit is None or size <= limit:
                break
            if not keep:
                raise ContextOverflowError("The compaction request does not fit the context window")
            index = 2 if anchored and len(keep) > 2 else 0
            anchored = anchored and index == 2
            del keep[index]
            dropped += 1
        return ChatRequest(
            model=self.model.api_model,
            system=[],
            messages=[*chat, instruction],
            max_tokens=self.window.summary_max,
            options=self.options,
            purpose="summary",
        )

    async def summarise(self, request: Entry, head: list[Entry]) -> Entry:
        """Store the summary of `head` answering `request`; `session.compacted` goes out."""
        chat_request = self.summary_request(head)
        summary = AssistantMessage.answering(
            self.session_id,
            request["info"]["id"],
            self.model.provider.id,
            self.model.model_id,
            "compaction",
            str(self.directory),
        )
        summary.summary = True
        summary.variant = self.variant
        await self.log.put_message(summary)
        await self.call(summary, chat_request)
        stored = await self.log.get_raw(self.session_id, summary.id)
        assert stored is not None, "a summary that was just stored"
        self.log.bus.publish("session.compacted", {"sessionID": self.session_id})
        return stored
