"""The scripted model and the context window: OVERFLOW, summary requests (SUMMARY and the progress
a summary carries so that a compacted script goes on where it was), and input tokens that follow
the size of the request."""

from __future__ import annotations

import json

import pytest

from wakeful.errors import ContextOverflowError
from wakeful.providers.base import (
    ChatMessage,
    ChatRequest,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolDefinition,
    Usage,
)
from wakeful.providers.scripted import ScriptedProvider
from wakeful.providers.scripted.language import Said, progress_line, read_conversation

SCRIPT = 'TOOL bash {"command": "a"}\nTOOL bash {"command": "b"}\nTOOL bash {"command": "c"}\nSUMMARY so far so good'


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider("scripted", silence_timeout=30)


async def collect(provider: ScriptedProvider, request: ChatRequest) -> list[StreamEvent]:
    return [e async for e in provider.stream(request)]


def text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def step(n: int) -> list[ChatMessage]:
    call = ToolCall(f"call_{n}", "bash", "{}")
    return [ChatMessage("assistant", tool_calls=[call]), ChatMessage("tool", f"out {n}", tool_call_id=call.id)]


async def test_overflow_answers_with_a_context_overflow_error(provider: ScriptedProvider) -> None:
    request = ChatRequest("m", [], [ChatMessage("user", "OVERFLOW 1\nREPLY fits")])
    with pytest.raises(ContextOverflowError):
        await collect(provider, request)
    assert text(await collect(provider, request)) == "fits"


async def test_a_summary_records_the_progress_of_an_unfinished_script(provider: ScriptedProvider) -> None:
    history = [ChatMessage("user", SCRIPT), *step(0), *step(1)]
    instruction = ChatMessage("user", "Summarise the conversation above")
    summary = text(await collect(provider, ChatRequest("m", [], [*history, instruction], purpose="summary")))
    assert summary == f"so far so good\n{progress_line(SCRIPT, 2)}"
    # compacted: the summary, the prompt again, no steps yet; the script goes on with its third tool
    compacted = [ChatMessage("user", "What happened?"), ChatMessage("assistant", summary), ChatMessage("user", SCRIPT)]
    events = await collect(provider, ChatRequest("m", [], compacted))
    (call,) = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert json.loads(call.arguments) == {"command": "c"}


def test_progress_counts_only_right_before_the_same_script() -> None:
    summary = Said("assistant", f"done\n{progress_line(SCRIPT, 2)}")
    assert read_conversation([summary, Said("user", SCRIPT)]).step == 2
    assert read_conversation([summary, Said("user", "another script")]).step == 0
    assert read_conversation([summary, Said("assistant"), Said("user", SCRIPT)]).step == 0


async def test_a_finished_script_is_summarised_without_progress(provider: ScriptedProvider) -> None:
    history = [ChatMessage("user", "REPLY done"), ChatMessage("assistant", "done")]
    request = ChatRequest("m", [], [*history, ChatMessage("user", "Summarise")], purpose="summary")
    assert text(await collect(provider, request)) == "Summary of 2 earlier messages."


async def test_input_tokens_are_a_quarter_of_everything_sent(provider: ScriptedProvider) -> None:
    tool = ToolDefinition("bash", "runs", {"type": "object"})
    call = ToolCall("c1", "bash", '{"command": "ls"}')
    messages = [ChatMessage("user", "REPLY x" + "y" * 93), ChatMessage("assistant", tool_calls=[call])]
    request = ChatRequest("m", ["s" * 40], messages, tools=[tool])
    usage = next(e for e in await collect(provider, request) if isinstance(e, Usage))
    chars = 40 + 100 + len("bash") + len(call.arguments) + len("bash") + len("runs") + len('{"type": "object"}')
    assert usage.input == chars // 4
