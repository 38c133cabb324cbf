"""When a failed provider call is tried again: the backoff for every retryable failure, and the
short budget of a provider that cannot be reached at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# The OpenAI SDK is imported with this module, before any loop runs, as the server's lifespan does.
import wakeful.providers.openai  # noqa: F401
from tests.support.inproc import EventLog, answer, new_session, prompt_run, submit
from tests.support.server import write_project_config
from wakeful.config import ServerConfig
from wakeful.errors import APIError, ProviderUnreachableError
from wakeful.run.retry import Retries
from wakeful.run.runtime import Runtime

CLOSED_PORT = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, the connection is refused


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def config(**flags: Any) -> ServerConfig:
    return ServerConfig.build(env={}, data_dir=Path("/nonexistent"), **flags)


def refused() -> ProviderUnreachableError:
    return ProviderUnreachableError("Unable to connect to the provider: refused")


def test_retryable_failures_get_every_attempt_with_backoff() -> None:
    retries = Retries(config(retry_attempts=3, retry_base=2, retry_max_delay=60))
    delays = [retries.next_delay(APIError("busy", status_code=503, retryable=True)) for _ in range(4)]
    assert delays[3] is None and retries.attempt == 3
    for attempt, delay in enumerate(delays[:3], start=1):
        assert delay is not None and 0.8 * 2**attempt <= delay <= 1.2 * 2**attempt
    assert Retries(config()).next_delay(APIError("bad request", status_code=400)) is None


def test_the_providers_retry_after_is_honoured() -> None:
    retries = Retries(config())
    assert retries.next_delay(APIError("slow down", retryable=True, retry_after=7.5)) == 7.5


def test_a_refused_connection_is_retried_within_its_budget_only() -> None:
    clock = Clock()
    retries = Retries(config(retry_attempts=20, retry_base=2, refused_retry_budget=10), clock=clock)
    waited = 0.0
    while (delay := retries.next_delay(refused())) is not None:
        waited += delay
        clock.now += delay
    # backoff 2, 4, then what is left of the 10 s, then nothing: far fewer than 20 attempts
    assert retries.attempt == 3
    assert waited == pytest.approx(10.0)


def test_a_provider_that_answers_again_restarts_the_budget() -> None:
    clock = Clock()
    retries = Retries(
        config(retry_attempts=20, retry_base=1, retry_max_delay=1, refused_retry_budget=3), clock=clock
    )
    for _ in range(2):
        assert retries.next_delay(refused()) is not None
        clock.now += 2.9
    assert retries.next_delay(refused()) is None  # 5.8 s after the first refusal
    retries = Retries(
        config(retry_attempts=20, retry_base=1, retry_max_delay=1, refused_retry_budget=3), clock=clock
    )
    assert retries.next_delay(refused()) is not None
    clock.now += 2.9
    assert retries.next_delay(APIError("busy", status_code=503, retryable=True)) is not None
    clock.now += 2.9
    assert retries.next_delay(refused()) is not None  # a new refusal, a new budget


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    write_project_config(directory, CLOSED_PORT)
    return directory


@pytest.fixture
def app_flags() -> dict[str, Any]:
    # Many attempts, short backoff: only the refusal budget can end the retries early.
    return {"retry_attempts": 1000, "retry_base": 0.02, "retry_max_delay": 0.05, "refused_retry_budget": 0.5}


async def test_a_run_against_a_refused_port_ends_when_the_budget_is_spent(runtime: Runtime) -> None:
    session = await new_session(runtime)
    events = EventLog(runtime)
    reply = await answer(await submit(runtime, prompt_run(runtime, session, "REPLY never")))
    error = reply["info"]["error"]
    assert error["name"] == "APIError" and "Unable to connect" in error["data"]["message"]
    retried = [
        e
        for e in await events.of("session.status", session.id)
        if e["properties"]["status"]["type"] == "retry"
    ]
    assert 0 < len(retried) < 1000
