"""The fake LLM itself: scripting, counts, control API, thread and process runners."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.fakellm import FakeLLM, FakeLLMThread, parse_script, spawn


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as server:
        yield server


def chat(prompt: str, *rest: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "stream": True, "messages": [{"role": "user", "content": prompt}, *rest]}


async def post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(f"{url}/chat/completions", json=body) as r:
        return r.status, (await r.read()).decode()


def contents(sse: str) -> str:
    out = []
    for line in sse.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                out.append(choice["delta"].get("content") or "")
    return "".join(out)


def test_parse_script_ignores_ordinary_lines() -> None:
    s = parse_script('please fix the bug\nTOOL read {"a": 1}\nDELAY x\nERROR 503 2\nBREAK 4')
    assert s.tools == [("read", '{"a": 1}')]
    assert s.delay == 0.0  # malformed, so just prompt text
    assert s.error == (503, 2) and s.cut == (4, None)


async def test_default_reply_and_done(fake: FakeLLM) -> None:
    status, sse = await post(fake.url, chat("just a question"))
    assert status == 200 and contents(sse) == "mock reply to: just a question"
    assert sse.rstrip().endswith("data: [DONE]")
    assert "usage" not in sse  # only with stream_options.include_usage


async def test_step_counts_assistant_turns_after_the_prompt(fake: FakeLLM) -> None:
    prompt = "TOOL a {}\nTOOL b {}"
    call: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": []}
    _, sse = await post(fake.url, chat(prompt, call, {"role": "tool", "tool_call_id": "x", "content": "r1"}))
    assert '"name": "b"' in sse
    _, sse = await post(
        fake.url,
        chat(
            prompt,
            call,
            {"role": "tool", "tool_call_id": "x", "content": "r1"},
            call,
            {"role": "tool", "tool_call_id": "y", "content": "r2"},
        ),
    )
    assert contents(sse) == "TOOL_RESULT_SEEN: r2"
    assert [r.step for r in fake.requests] == [1, 2]


async def test_error_count_is_per_script(fake: FakeLLM) -> None:
    statuses = [(await post(fake.url, chat("ERROR 503 2")))[0] for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert fake.count("ERROR 503 2") == 3
    assert (await post(fake.url, chat("other")))[0] == 200


async def test_hold_and_control_over_http(fake: FakeLLM) -> None:
    task = asyncio.create_task(post(fake.url, chat("HOLD gate\nREPLY let through")))
    await fake.wait_for_hold("gate", timeout=2)
    assert not task.done()
    base = fake.url.removesuffix("/v1")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/_control/release/gate") as r:
            assert r.status == 200
        status, sse = await task
        async with session.get(f"{base}/_control/requests") as r:
            logged = await r.json()
    assert status == 200 and contents(sse) == "let through"
    assert logged[0]["path"] == "/v1/chat/completions" and logged[0]["script"].startswith("HOLD gate")


async def test_anthropic_events_and_error_shape(fake: FakeLLM) -> None:
    body: dict[str, Any] = {
        "model": "c",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "REPLY hi"}]}],
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{fake.url}/messages", json=body) as r:
            events = [line[7:] for line in (await r.text()).splitlines() if line.startswith("event: ")]
        body["messages"][0]["content"][0]["text"] = "ERROR 529"
        async with session.post(f"{fake.url}/messages", json=body) as r:
            error = await r.json()
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    assert error == {"type": "error", "error": {"type": "overloaded_error", "message": "mock error 529"}}


def test_thread_runner_for_sync_fixtures() -> None:
    with FakeLLMThread() as fake:
        assert fake.url.startswith("http://127.0.0.1:") and fake.url.endswith("/v1")
        result: list[tuple[int, str]] = []

        async def client() -> None:
            result.append(await post(fake.url, chat("HOLD t\nREPLY threaded")))

        t = threading.Thread(target=asyncio.run, args=(client(),))
        t.start()
        fake.wait_for_hold("t", timeout=2)
        fake.release("t")
        t.join(5)
        assert contents(result[0][1]) == "threaded"
        assert len(fake.requests) == 1 and fake.count("HOLD t\nREPLY threaded") == 1
        fake.reset()
        assert fake.requests == []


def test_runs_as_its_own_process() -> None:
    proc, url = spawn()
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        status, sse = asyncio.run(post(url, chat("REPLY from a process")))
        assert status == 200 and contents(sse) == "from a process"
    finally:
        proc.terminate()
        proc.wait(5)
        assert proc.stdout is not None
        proc.stdout.close()
