"""opencode's JavaScript SDK (@opencode-ai/sdk 1.18.33, both entry points) against a real wakeful.

Each test runs `suite.mjs` in Node: every call of the scenario with `throwOnError: true`, every
answer validated against the reference's OpenAPI document. The short-timeout runs pass a fetch whose
header and body timeouts are 3 s, and hold a 10 s prompt through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server import WakefulProcess

ENTRIES = ["v1", "v2"]


@pytest.fixture(scope="module")
def long_server(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Iterator[WakefulProcess]:
    """A server configured as in production for long calls: one keep-alive byte a second on held
    calls, an event heartbeat a second, and a provider allowed to think longer than the prompt lasts."""
    proc = WakefulProcess(
        tmp_path_factory.mktemp("long-data"),
        project,
        env={
            "WAKEFUL_KEEPALIVE_INTERVAL": "1",
            "WAKEFUL_SSE_HEARTBEAT": "1",
            "WAKEFUL_PROVIDER_SILENCE": "30",
        },
    ).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("entry", ENTRIES)
def test_sdk_scenario(run_suite: Callable[..., object], server: WakefulProcess, entry: str) -> None:
    result = run_suite(server, entry, "plain")
    assert f"[{entry} plain] all steps passed" in result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("entry", ENTRIES)
def test_sdk_scenario_with_short_client_timeouts(
    run_suite: Callable[..., object], long_server: WakefulProcess, entry: str
) -> None:
    result = run_suite(
        long_server, entry, "short-timeouts", SHORT_TIMEOUT_MS="3000", LONG_CALL_SECONDS="10"
    )
    output: str = result.output  # type: ignore[attr-defined]
    assert f"[{entry} short-timeouts] ok   a 10 s prompt through 3000 ms header/body timeouts" in output
    assert f"[{entry} short-timeouts] all steps passed" in output
