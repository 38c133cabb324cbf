"""Provider failures over real HTTP: retries with their status events, 4xx without retry, 429 with
retry-after, a stream cut mid-way, and a provider that goes silent. One server with a short silence
limit and two retries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.http import (
    event_log,
    messages,
    new_session,
    prompt,
    requests_for,
    text_of,
    validate_all,
    validate_message,
)
from tests.support.schemas import capture, validate
from tests.support.server import WakefulProcess

RETRIES = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Iterator[WakefulProcess]:
    env: dict[str, str | None] = {"WAKEFUL_PROVIDER_SILENCE": "0.5", "WAKEFUL_RETRY_ATTEMPTS": str(RETRIES)}
    proc = WakefulProcess(tmp_path_factory.mktemp("data"), project, env=env).start()
    yield proc
    proc.stop()


def unique(script: str) -> str:
    return f"{script}\n# {uuid.uuid4().hex}"


def test_5xx_is_retried_with_status_events_then_succeeds(
    server: WakefulProcess, http: httpx.Client, llm: FakeLLMThread
) -> None:
    sid = new_session(http)
    script = unique("ERROR 500 2\nREPLY after retries")
    with event_log(server.url) as events:
        reply = prompt(http, sid, script)
        events.wait_type("session.idle", sid)
        statuses = [e["properties"]["status"] for e in events.of("session.status", sid)]
    validate_message(reply)
    assert "error" not in reply["info"] and text_of(reply) == "after retries"
    assert llm.count(script) == 3
    retries = [s for s in statuses if s["type"] == "retry"]
    assert [r["attempt"] for r in retries] == [1, 2]
    for status in retries:
        validate("SessionStatus", status)
        assert status["message"] == "mock error 500" and isinstance(status["next"], int)
    assert statuses[0]["type"] == "busy" and statuses[-1]["type"] == "idle"
    # back to busy after each wait
    assert statuses[1:-1] == [retries[0], {"type": "busy"}, retries[1], {"type": "busy"}]


def test_5xx_exhausting_retries_stores_the_api_error(http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    script = unique("ERROR 503")
    reply = prompt(http, sid, script)
    validate_message(reply)
    assert llm.count(script) == RETRIES + 1
    error = reply["info"]["error"]
    reference = capture("exp6a-error500-response.json")["info"]["error"]
    assert error["name"] == "APIError" and set(error["data"]) == set(reference["data"])
    assert error["data"]["statusCode"] == 503 and error["data"]["isRetryable"] is True
    assert error["data"]["message"] == "mock error 503"


def test_4xx_is_not_retried(http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    script = unique("ERROR 400")
    reply = prompt(http, sid, script)
    validate_message(reply)
    assert llm.count(script) == 1
    error = reply["info"]["error"]
    validate("APIError", error)
    assert error["data"]["statusCode"] == 400 and error["data"]["isRetryable"] is False
    assert error["data"]["message"] == "mock error 400"
    assert '"invalid_request_error"' in error["data"]["responseBody"]
    assert error["data"]["metadata"]["url"].endswith("/chat/completions")


def test_auth_failure_is_a_provider_auth_error_without_retry(http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    script = unique("ERROR 401")
    reply = prompt(http, sid, script)
    validate_message(reply)
    assert llm.count(script) == 1
    error = reply["info"]["error"]
    validate("ProviderAuthError", error)
    assert error["data"] == {"providerID": "mock", "message": "mock error 401"}


def test_429_honours_retry_after(server: WakefulProcess, http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    script = unique("ERROR 429 1\nRETRY_AFTER 0.6\nREPLY rate limit passed")
    with event_log(server.url) as events:
        reply = prompt(http, sid, script)
        (retry,) = [
            e["properties"]["status"]
            for e in events.of("session.status", sid)
            if e["properties"]["status"]["type"] == "retry"
        ]
    assert text_of(reply) == "rate limit passed"
    first, second = requests_for(llm, script)
    assert second.time - first.time >= 0.6
    assert retry["attempt"] == 1 and retry["message"] == "mock error 429"


def test_anthropic_overload_is_retried(http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    script = unique("ERROR 529 1\nREPLY claude after overload")
    reply = prompt(http, sid, script, model={"providerID": "anth", "modelID": "claude-mock"})
    validate_message(reply)
    assert text_of(reply) == "claude after overload" and llm.count(script) == 2
    assert {r.path for r in requests_for(llm, script)} == {"/v1/messages"}


def test_a_stream_cut_once_is_retried_without_doubling_text(
    server: WakefulProcess, http: httpx.Client, llm: FakeLLMThread
) -> None:
    sid = new_session(http)
    script = unique("BREAK 2 1\nREPLY complete answer after a cut")
    with event_log(server.url) as events:
        reply = prompt(http, sid, script)
        removed = events.of("message.part.removed", sid)
    validate_message(reply)
    assert llm.count(script) == 2
    assert "error" not in reply["info"]
    assert [p["type"] for p in reply["parts"]] == ["step-start", "text", "step-finish"]
    assert text_of(reply) == "complete answer after a cut"
    assert len(removed) == 1  # the first attempt's partial text
    assert len(messages(http, sid)) == 2


def test_a_stream_always_cut_fails_and_keeps_the_partial_text(http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    script = unique("BREAK 2\nREPLY partial answer that is cut")
    reply = prompt(http, sid, script)
    validate_message(reply)
    assert llm.count(script) == RETRIES + 1
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
    validate_all(messages(http, sid))


def test_a_silent_provider_fails_the_run_with_a_stored_error(
    http: httpx.Client, llm: FakeLLMThread
) -> None:
    sid = new_session(http)
    script = unique("SILENT")
    reply = prompt(http, sid, script)
    validate_message(reply)
    assert llm.count(script) == RETRIES + 1
    error = reply["info"]["error"]
    validate("UnknownError", error)
    assert error["data"]["message"] == f"The run was stopped: provider sent nothing for 0.5 s (after {RETRIES + 1} attempts)"
    stored = messages(http, sid)
    assert stored[-1]["info"]["error"] == error
