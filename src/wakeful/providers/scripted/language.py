"""The script language of the scripted model: what a prompt tells the model to answer.

The script is the text of the last user message that carries text; the step is the number of
assistant turns after it. One directive per line; any other line (and a malformed directive) is
ordinary prompt text, so any prompt gets the default reply:

    REPLY <text>            answer <text> (repeatable: one line each); default "mock reply to: <prompt>"
    REASON <text>           reasoning first
    TOOL <name> <json>      step k calls the k-th TOOL; afterwards "TOOL_RESULT_SEEN: <latest result>"
    TOOLS_PARALLEL          all TOOL lines in one step
    DELAY <s>               wait before answering
    DRIP <n> <s>            the text as n chunks, <s> seconds apart
    HOLD <key>              after the first content chunk, wait until `key` is released
    HOLD_BEFORE <key>       wait until `key` is released before answering at all
    ERROR <status> [count]  answer with an HTTP error (only the first <count> requests of this script)
    OVERFLOW [count]        answer with the wire's context-overflow error (likewise)
    RETRY_AFTER <s>         error answers carry `retry-after: <s>`
    BREAK <n> [count]       send n events, then cut the stream (only the first <count> requests)
    TRUNCATE <n>            send n events, then end the stream without a finish
    SILENT                  say nothing (until `silent` is released or the caller gives up)
    USAGE <in> <out> [<cache_read> [<reasoning>]]   token counts (in = uncached input)
    FINISH <reason>         the finish reason (a wire's word such as max_tokens, or wakeful's, e.g. length)
    SUMMARY <text>          what a compaction summary of this script's conversation says

A compaction's summary request is answered with the SUMMARY text (default: a line counting the
messages summarised); when the script was still calling tools, a `SCRIPT_PROGRESS` line records how
many steps it had taken, so that the step count carries on when the summary is followed by the
script's prompt again (as a compacted history shows it).

This module is the language alone: parsing and planning, no I/O. `wakeful.providers.scripted`
plays a plan in-process; the test suite's fake LLM server plays it over the OpenAI and Anthropic
wire formats.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class Script:
    text: str
    reply: str | None = None
    reason: str | None = None
    tools: list[tuple[str, str]] = field(default_factory=list)
    parallel: bool = False
    delay: float = 0.0
    drip: tuple[int, float] | None = None
    hold: str | None = None
    hold_before: str | None = None
    error: tuple[int, int | None] | None = None
    retry_after: str | None = None
    cut: tuple[int, int | None] | None = None
    truncate: int | None = None
    silent: bool = False
    usage: tuple[int, ...] | None = None
    finish: str | None = None
    overflow: int | None = None  # answer OVERFLOW to the first <overflow> requests; 0: to all
    summary: str | None = None

    @property
    def steps(self) -> int:
        """How many answers the script gives before its final one."""
        if not self.tools:
            return 0
        return 1 if self.parallel else len(self.tools)

    def overflows(self, nth: int) -> bool:
        """Whether the nth request (from 1) carrying this script gets the OVERFLOW answer."""
        return self.overflow is not None and (self.overflow == 0 or nth <= self.overflow)

    def errs(self, nth: int) -> bool:
        """Whether the nth request (from 1) carrying this script gets the ERROR answer."""
        return self.error is not None and (self.error[1] is None or nth <= self.error[1])

    def cuts(self, nth: int) -> bool:
        """Whether the nth request (from 1) carrying this script is cut by BREAK."""
        return self.cut is not None and (self.cut[1] is None or nth <= self.cut[1])


def parse_script(text: str) -> Script:
    s = Script(text=text)
    for raw in text.splitlines():
        word, _, rest = raw.strip().partition(" ")
        rest = rest.strip()
        args = rest.split()
        try:
            if word == "REPLY":
                s.reply = rest if s.reply is None else f"{s.reply}\n{rest}"
            elif word == "REASON":
                s.reason = rest
            elif word == "TOOL" and args:
                name, _, tool_args = rest.partition(" ")
                s.tools.append((name, tool_args.strip() or "{}"))
            elif word == "TOOLS_PARALLEL":
                s.parallel = True
            elif word == "DELAY":
                s.delay = float(args[0])
            elif word == "DRIP":
                s.drip = (int(args[0]), float(args[1]))
            elif word == "HOLD":
                s.hold = args[0]
            elif word == "HOLD_BEFORE":
                s.hold_before = args[0]
            elif word == "ERROR":
                s.error = (int(args[0]), int(args[1]) if len(args) > 1 else None)
            elif word == "RETRY_AFTER":
                s.retry_after = args[0]
            elif word == "BREAK":
                s.cut = (int(args[0]), int(args[1]) if len(args) > 1 else None)
            elif word == "TRUNCATE":
                s.truncate = int(args[0])
            elif word == "SILENT":
                s.silent = True
            elif word == "USAGE":
                s.usage = tuple(int(a) for a in args[:4])
            elif word == "FINISH":
                s.finish = args[0]
            elif word == "OVERFLOW":
                s.overflow = int(args[0]) if args else 0
            elif word == "SUMMARY":
                s.summary = rest
        except (IndexError, ValueError):
            continue  # a malformed directive is an ordinary line of prompt
    return s


@dataclass(frozen=True)
class Said:
    """One message of a conversation as the language sees it."""

    role: Literal["user", "assistant", "tool"]
    text: str | None = None  # the message's text (None: it has none), or a tool's result


@dataclass(frozen=True)
class Conversation:
    script: str  # the text of the last user message that has text ("" if none has)
    step: int  # assistant turns after it, plus the progress of a summary right before it
    tool_result: str  # the latest tool result after it ("" if none)
    messages: int = 0  # how many messages the conversation has


PROGRESS = "SCRIPT_PROGRESS"


def _digest(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()[:12]


def progress_line(script: str, step: int) -> str:
    return f"{PROGRESS} {_digest(script)} {step}"


def _progress(said: Said | None, script: str) -> int:
    """The steps a summary recorded for `script`; 0 if `said` is no such summary."""
    if said is None or said.role != "assistant" or not said.text:
        return 0
    for line in said.text.splitlines():
        word, _, rest = line.partition(" ")
        digest, _, count = rest.partition(" ")
        if word == PROGRESS and digest == _digest(script) and count.isdigit():
            return int(count)
    return 0


def read_conversation(messages: Iterable[Said]) -> Conversation:
    said = list(messages)
    last = max((i for i, m in enumerate(said) if m.role == "user" and m.text is not None), default=-1)
    if last < 0:
        return Conversation("", 0, "", len(said))
    script = said[last].text or ""
    after = said[last + 1 :]
    results = [m.text or "" for m in after if m.role == "tool"]
    return Conversation(
        script=script,
        step=_progress(said[last - 1] if last else None, script) + sum(1 for m in after if m.role == "assistant"),
        tool_result=results[-1] if results else "",
        messages=len(said),
    )


def summary_text(conversation: Conversation) -> str:
    """The answer to a compaction's summary request of `conversation` (its messages without the
    request's own instruction)."""
    script = parse_script(conversation.script)
    text = script.summary or f"Summary of {conversation.messages} earlier messages."
    if script.tools and conversation.step <= script.steps:
        text += "\n" + progress_line(conversation.script, conversation.step)
    return text


def error_message(status: int) -> str:
    """The message of an ERROR answer."""
    return f"mock error {status}"


# What each wire answers to OVERFLOW: the way OpenAI and Anthropic say that a request was too long.
OVERFLOW_STATUS = 400
OVERFLOW_BODIES = {
    "openai": {
        "error": {
            "message": "This model's maximum context length is 4096 tokens. However, your messages "
            "resulted in 9001 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
    "anthropic": {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 210001 tokens > 200000 maximum"},
    },
}


@dataclass
class Plan:
    """What one answer says, independent of how it is delivered."""

    reasoning: list[str]
    text: list[str]
    calls: list[tuple[str, str, list[str]]]  # id, name, argument pieces
    usage: tuple[int, int, int, int]  # uncached input, output, cache read, reasoning


def _split(text: str, n: int) -> list[str]:
    size = max(1, math.ceil(len(text) / n))
    return [text[i * size : (i + 1) * size] for i in range(n)]


def make_plan(script: Script, step: int, tool_result: str, request_chars: int) -> Plan:
    """The answer at `step` (assistant turns since the script), given the latest tool result.

    Call ids depend on the script, step and position only, so a replayed step calls the same ids.
    Without USAGE the input is counted as a quarter of `request_chars` and the output as the
    number of chunks.
    """
    calls: list[tuple[str, str]] = []
    if script.tools and script.parallel and step == 0:
        calls = script.tools
    elif script.tools and not script.parallel and step < len(script.tools):
        calls = [script.tools[step]]
    if calls:
        text = ""
    elif script.reply is not None:
        text = script.reply
    elif script.tools:
        text = f"TOOL_RESULT_SEEN: {tool_result}"
    else:
        text = f"mock reply to: {script.text}"
    if calls:
        pieces = []
    elif script.drip:
        pieces = _split(text, script.drip[0])  # may hold empty chunks: the gaps are the point
    else:
        pieces = [p for p in _split(text, 3) if p]
    reasoning = _split(script.reason, 2) if script.reason else []
    planned = []
    for k, (name, args) in enumerate(calls):
        digest = hashlib.sha1(f"{script.text}|{step}|{k}".encode()).hexdigest()[:24]
        planned.append((f"call_{digest}", name, [p for p in _split(args, 2) if p]))
    deltas = len(reasoning) + len(pieces) + sum(len(c[2]) for c in planned)
    u = script.usage or (request_chars // 4, deltas)
    usage = (u[0], u[1], u[2] if len(u) > 2 else 0, u[3] if len(u) > 3 else 0)
    return Plan(reasoning=reasoning, text=pieces, calls=planned, usage=usage)
