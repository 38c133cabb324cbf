"""The scripted model: its language, its in-process provider, and an app configured with it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.support.http import text_of, tool_parts
from tests.support.inproc import create_session, messages, prompt
from tests.support.server import write_project_config
from wakeful.errors import APIError, ProviderAuthError, ProviderSilenceError
from wakeful.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from wakeful.providers.registry import build_provider
from wakeful.providers.scripted import ScriptedProvider
from wakeful.providers.scripted.language import Said, make_plan, parse_script, read_conversation

# --- the language -------------------------------------------------------------------------------


def test_parse_every_directive() -> None:
    s = parse_script(
        'fix it\nREPLY one\nREPLY two\nREASON hmm\nTOOL read {"a": 1}\nTOOL glob\nTOOLS_PARALLEL\n'
        "DELAY 0.5\nDRIP 4 0.1\nHOLD k\nHOLD_BEFORE b\nERROR 429 2\nRETRY_AFTER 3\nBREAK 5 1\n"
        "TRUNCATE 2\nSILENT\nUSAGE 10 20 30 40\nFINISH length"
    )
    assert (s.reply, s.reason, s.tools) == ("one\ntwo", "hmm", [("read", '{"a": 1}'), ("glob", "{}")])
    assert s.parallel and (s.delay, s.drip, s.hold, s.hold_before) == (0.5, (4, 0.1), "k", "b")
    assert (s.error, s.retry_after, s.cut, s.truncate) == ((429, 2), "3", (5, 1), 2)
    assert s.silent and s.usage == (10, 20, 30, 40) and s.finish == "length"
    assert s.errs(2) and not s.errs(3) and s.cuts(1) and not s.cuts(2)


def test_malformed_directives_are_prompt_text() -> None:
    s = parse_script("DELAY soon\nERROR\nUSAGE x")
    assert (s.delay, s.error, s.usage) == (0.0, None, None)


def test_steps_call_tools_in_turn_then_echo_the_result() -> None:
    script = parse_script('TOOL read {"p": "a"}\nTOOL glob {}')
    first, second, done = (make_plan(script, step, "body", 400) for step in range(3))
    assert [c[1] for c in first.calls] == ["read"] and first.text == []
    assert json.loads("".join(first.calls[0][2])) == {"p": "a"}
    assert [c[1] for c in second.calls] == ["glob"]
    assert "".join(done.text) == "TOOL_RESULT_SEEN: body" and done.calls == []
    assert make_plan(script, 0, "", 0).calls[0][0] == first.calls[0][0]  # ids are stable per step


def test_parallel_tools_default_reply_and_usage() -> None:
    parallel = make_plan(parse_script("TOOL a {}\nTOOL b {}\nTOOLS_PARALLEL"), 0, "", 0)
    assert [c[1] for c in parallel.calls] == ["a", "b"]
    plain = make_plan(parse_script("what time is it"), 0, "", 400)
    assert "".join(plain.text) == "mock reply to: what time is it"
    assert plain.usage == (100, len(plain.text), 0, 0)
    assert make_plan(parse_script("USAGE 7 8 9"), 0, "", 400).usage == (7, 8, 9, 0)


def test_the_conversation_is_read_from_the_last_prompt() -> None:
    said = [
        Said("user", "old"),
        Said("assistant"),
        Said("user", "the script"),
        Said("assistant"),
        Said("tool", "r1"),
        Said("user", None),  # a message without text (attachments only) is not a prompt
        Said("assistant"),
        Said("tool", "r2"),
    ]
    turn = read_conversation(said)
    assert (turn.script, turn.step, turn.tool_result) == ("the script", 2, "r2")
    assert read_conversation([Said("assistant")]).script == ""


# --- the provider -------------------------------------------------------------------------------


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider("scripted", silence_timeout=30)


def ask(text: str, *history: ChatMessage) -> ChatRequest:
    return ChatRequest(model="any", system=["be brief"], messages=[ChatMessage("user", text), *history])


async def collect(provider: ScriptedProvider, request: ChatRequest) -> list[StreamEvent]:
    return [e async for e in provider.stream(request)]


def text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_streams_reasoning_then_text_then_usage_and_finish(provider: ScriptedProvider) -> None:
    events = await collect(provider, ask("REASON thinking\nREPLY hello there world\nUSAGE 5 6 7 8"))
    assert [type(e) for e in events[:2]] == [ReasoningDelta, ReasoningDelta]
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "thinking"
    assert text(events) == "hello there world" and sum(isinstance(e, TextDelta) for e in events) > 1
    assert events[-2:] == [Usage(input=5, output=6, reasoning=8, cache_read=7), Finish("stop")]


async def test_one_tool_per_step_seen_from_the_request(provider: ScriptedProvider) -> None:
    script = 'TOOL read {"path": "a"}\nTOOL bash {"command": "ls"}'
    first = await collect(provider, ask(script))
    call = next(e.call for e in first if isinstance(e, ToolCallEvent))
    assert (call.name, json.loads(call.arguments)) == ("read", {"path": "a"})
    assert first[-1] == Finish("tool-calls")
    history = [ChatMessage("assistant", tool_calls=[call]), ChatMessage("tool", "A", tool_call_id=call.id)]
    second = await collect(provider, ask(script, *history))
    assert [e.call.name for e in second if isinstance(e, ToolCallEvent)] == ["bash"]
    bash = ToolCall("call_2", "bash", "{}")
    history += [ChatMessage("assistant", tool_calls=[bash]), ChatMessage("tool", "B", tool_call_id="call_2")]
    assert text(await collect(provider, ask(script, *history))) == "TOOL_RESULT_SEEN: B"
    assert [(r.script, r.step) for r in provider.requests] == [(script, 0), (script, 1), (script, 2)]
    assert provider.count(script) == 3


@pytest.mark.parametrize(("raw", "reason"), [("max_tokens", "length"), ("length", "length"), ("x", "other")])
async def test_finish_reasons_of_either_wire(provider: ScriptedProvider, raw: str, reason: str) -> None:
    assert (await collect(provider, ask(f"FINISH {raw}")))[-1] == Finish(reason)


async def test_errors_are_those_of_the_http_adapters(provider: ScriptedProvider) -> None:
    with pytest.raises(APIError) as info:
        await collect(provider, ask("ERROR 503 1\nRETRY_AFTER 7"))
    error = info.value
    assert error.retryable and error.status_code == 503 and error.message == "mock error 503"
    assert error.retry_after == 7.0 and error.response_headers == {"retry-after": "7"}
    assert text(await collect(provider, ask("ERROR 503 1\nRETRY_AFTER 7"))).startswith("mock reply")
    with pytest.raises(APIError) as info:
        await collect(provider, ask("ERROR 400"))
    assert not info.value.retryable
    with pytest.raises(ProviderAuthError):
        await collect(provider, ask("ERROR 401"))


async def test_break_and_truncate_cut_the_stream(provider: ScriptedProvider) -> None:
    seen: list[StreamEvent] = []
    with pytest.raises(APIError) as info:
        async for event in provider.stream(ask("REPLY abcdef\nBREAK 2 1")):
            seen.append(event)
    assert len(seen) == 2 and info.value.retryable
    assert info.value.metadata is not None and info.value.metadata["code"] == "ECONNRESET"
    assert text(await collect(provider, ask("REPLY abcdef\nBREAK 2 1"))) == "abcdef"  # once only
    with pytest.raises(APIError, match="Connection reset"):
        await collect(provider, ask("TRUNCATE 0"))


async def test_silent_ends_at_the_silence_limit() -> None:
    quiet = ScriptedProvider("scripted", silence_timeout=0.01)
    with pytest.raises(ProviderSilenceError):
        await collect(quiet, ask("SILENT"))


async def test_silent_answers_once_released(provider: ScriptedProvider) -> None:
    task = asyncio.create_task(collect(provider, ask("SILENT\nREPLY late")))
    await provider.held("silent")
    provider.release("silent")
    assert text(await task) == "late"


async def test_hold_parks_after_the_first_chunk_until_released(provider: ScriptedProvider) -> None:
    stream = provider.stream(ask("REPLY one two three\nHOLD gate"))
    first = await anext(stream)
    rest = asyncio.create_task(anext(stream))
    await provider.held("gate")
    assert isinstance(first, TextDelta) and not rest.done()
    provider.release("gate")
    remaining = [await rest] + [e async for e in stream]
    assert first.text + text(remaining) == "one two three"


async def test_hold_before_parks_before_anything(provider: ScriptedProvider) -> None:
    task = asyncio.create_task(collect(provider, ask("HOLD_BEFORE b\nREPLY go")))
    await provider.held("b")
    assert not task.done() and len(provider.requests) == 1
    provider.release("b")
    assert text(await task) == "go"
    provider.reset()  # a released key is closed again
    assert provider.requests == [] and provider.count("HOLD_BEFORE b\nREPLY go") == 0


async def test_drip_and_delay_without_a_network(provider: ScriptedProvider) -> None:
    events = await collect(provider, ask("REPLY abcdef\nDRIP 3 0\nDELAY 0"))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["ab", "cd", "ef"]


def test_registry_builds_it_without_key_or_url() -> None:
    for provider_id, npm in (("team-fake", "wakeful/scripted"), ("scripted", None)):
        built = build_provider(
            provider_id, {}, npm=npm, silence_timeout=1.0, max_connections=10, transport="aiohttp"
        )
        assert isinstance(built, ScriptedProvider) and built.id == provider_id


# --- a server whose project uses it -------------------------------------------------------------


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    directory = tmp_path / "scripted-project"
    directory.mkdir()
    write_project_config(
        directory,
        None,
        provider={"scripted": {"name": "Scripted"}, "team-fake": {"npm": "wakeful/scripted"}},
        model="scripted/any-model-name",
    )
    return directory


async def test_a_server_configured_with_it_answers_and_runs_tools(
    client: httpx.AsyncClient, app_project: Path
) -> None:
    sid = await create_session(client)
    assert text_of(await prompt(client, sid, "REPLY hello from the script")) == "hello from the script"
    (app_project / "note.txt").write_text("scripted read")
    reply = await prompt(
        client,
        sid,
        'TOOL read {"filePath": "note.txt"}',
        model={"providerID": "team-fake", "modelID": "whatever"},
    )
    assert "TOOL_RESULT_SEEN:" in text_of(reply) and "scripted read" in text_of(reply)
    assert reply["info"]["providerID"] == "team-fake"
    reads = [p for m in await messages(client, sid) for p in tool_parts(m)]
    assert [(p["tool"], p["state"]["status"]) for p in reads] == [("read", "completed")]
