"""Provider failures through the HTTP adapters: retries with their status events, 4xx without retry,
429 with retry-after, a stream cut mid-way, and a provider that goes silent. In-process, with the
fake LLM on loopback (the errors are the wire's), a short silence limit and two retries."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fakellm import FakeLLM
from tests.support.http import requests_for, text_of, validate_all, validate_message
from tests.support.inproc import InProcess, create_session, messages, prompt
from tests.support.schemas import capture, validate
from tests.support.server import write_project_config

RETRIES = 2


@pytest.fixture
def app_project(tmp_path: Path, fake_llm: FakeLLM) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    write_project_config(directory, fake_llm.url)
    return directory


@pytest.fixture
def app_flags() -> dict[str, Any]:
    return {"provider_silence": 0.5, "retry_attempts": RETRIES}


def unique(script: str) -> str:
    return f"{script}\n# {uuid.uuid4().hex}"


async def test_5xx_is_retried_with_status_events_then_succeeds(
    client: httpx.AsyncClient, fake_llm: FakeLLM, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    script = unique("ERROR 500 2\nREPLY after retries")
    events = wakeful.events()
    reply = await prompt(client, sid, script)
    await events.wait_type("session.idle", sid)
    statuses = [e["properties"]["status"] for e in await events.of("session.status", sid)]
    validate_message(reply)
    assert "error" not in reply["info"] and text_of(reply) == "after retries"
    assert fake_llm.count(script) == 3
    retries = [s for s in statuses if s["type"] == "retry"]
    assert [r["attempt"] for r in retries] == [1, 2]
    for status in retries:
        validate("SessionStatus", status)
        assert status["message"] == "mock error 500" and isinstance(status["next"], int)
    assert statuses[0]["type"] == "busy" and statuses[-1]["type"] == "idle"
    # back to busy after each wait
    assert statuses[1:-1] == [retries[0], {"type": "busy"}, retries[1], {"type": "busy"}]


async def test_5xx_exhausting_retries_stores_the_api_error(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    sid = await create_session(client)
    script = unique("ERROR 503")
    reply = await prompt(client, sid, script)
    validate_message(reply)
    assert fake_llm.count(script) == RETRIES + 1
    error = reply["info"]["error"]
    reference = capture("exp6a-error500-response.json")["info"]["error"]
    assert error["name"] == "APIError" and set(error["data"]) == set(reference["data"])
    assert error["data"]["statusCode"] == 503 and error["data"]["isRetryable"] is True
    assert error["data"]["message"] == "mock error 503"


async def test_4xx_is_not_retried(client: httpx.AsyncClient, fake_llm: FakeLLM) -> None:
    sid = await create_session(client)
    script = unique("ERROR 400")
    reply = await prompt(client, sid, script)
    validate_message(reply)
    assert fake_llm.count(script) == 1
    error = reply["info"]["error"]
    validate("APIError", error)
    assert error["data"]["statusCode"] == 400 and error["data"]["isRetryable"] is False
    assert error["data"]["message"] == "mock error 400"
    assert '"invalid_request_error"' in error["data"]["responseBody"]
    assert error["data"]["metadata"]["url"].endswith("/chat/completions")


async def test_auth_failure_is_a_provider_auth_error_without_retry(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    sid = await create_session(client)
    script = unique("ERROR 401")
    reply = await prompt(client, sid, script)
    validate_message(reply)
    assert fake_llm.count(script) == 1
    error = reply["info"]["error"]
    validate("ProviderAuthError", error)
    assert error["data"] == {"providerID": "mock", "message": "mock error 401"}


async def test_429_honours_retry_after(
    client: httpx.AsyncClient, fake_llm: FakeLLM, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    script = unique("ERROR 429 1\nRETRY_AFTER 0.6\nREPLY rate limit passed")
    events = wakeful.events()
    reply = await prompt(client, sid, script)
    (retry,) = [
        e["properties"]["status"]
        for e in await events.of("session.status", sid)
        if e["properties"]["status"]["type"] == "retry"
    ]
    assert text_of(reply) == "rate limit passed"
    first, second = requests_for(fake_llm, script)
    # The wait is the point: the retry came no sooner than the provider asked.
    assert second.time - first.time >= 0.6
    assert retry["attempt"] == 1 and retry["message"] == "mock error 429"


async def test_anthropic_overload_is_retried(client: httpx.AsyncClient, fake_llm: FakeLLM) -> None:
    sid = await create_session(client)
    script = unique("ERROR 529 1\nREPLY claude after overload")
    reply = await prompt(client, sid, script, model={"providerID": "anth", "modelID": "claude-mock"})
    validate_message(reply)
    assert text_of(reply) == "claude after overload" and fake_llm.count(script) == 2
    assert {r.path for r in requests_for(fake_llm, script)} == {"/v1/messages"}


async def test_a_stream_cut_once_is_retried_without_doubling_text(
    client: httpx.AsyncClient, fake_llm: FakeLLM, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    script = unique("BREAK 2 1\nREPLY complete answer after a cut")
    events = wakeful.events()
    reply = await prompt(client, sid, script)
    removed = await events.of("message.part.removed", sid)
    validate_message(reply)
    assert fake_llm.count(script) == 2
    assert "error" not in reply["info"]
    assert [p["type"] for p in reply["parts"]] == ["step-start", "text", "step-finish"]
    assert text_of(reply) == "complete answer after a cut"
    assert len(removed) == 1  # the first attempt's partial text
    assert len(await messages(client, sid)) == 2


async def test_a_stream_always_cut_fails_and_keeps_the_partial_text(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    sid = await create_session(client)
    script = unique("BREAK 2\nREPLY partial answer that is cut")
    reply = await prompt(client, sid, script)
    validate_message(reply)
    assert fake_llm.count(script) == RETRIES + 1
    error = reply["info"]["error"]
    reference = capture("exp6c-break3-response.json")["info"]["error"]
    assert error["name"] == reference["name"] == "APIError"
    assert error["data"]["message"] == reference["data"]["message"] == "Connection reset by server"
    assert error["data"]["isRetryable"] is True and error["data"]["metadata"]["code"] == "ECONNRESET"
    # unlike the reference, what was streamed is kept: one partial text, not one per attempt
    texts = [p for p in reply["parts"] if p["type"] == "text"]
    assert len(texts) == 1 and texts[0]["text"]
    assert "partial answer that is cut".startswith(texts[0]["text"])
    assert texts[0]["time"]["end"] >= texts[0]["time"]["start"]
    validate_all(await messages(client, sid))


async def test_a_silent_provider_fails_the_run_with_a_stored_error(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    sid = await create_session(client)
    script = unique("SILENT")
    reply = await prompt(client, sid, script)
    validate_message(reply)
    assert fake_llm.count(script) == RETRIES + 1
    error = reply["info"]["error"]
    validate("UnknownError", error)
    assert (
        error["data"]["message"]
        == f"The run was stopped: provider sent nothing for 0.5 s (after {RETRIES + 1} attempts)"
    )
    stored = await messages(client, sid)
    assert stored[-1]["info"]["error"] == error
