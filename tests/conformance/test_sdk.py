"""opencode's JavaScript SDK (@opencode-ai/sdk 1.18.33, both entry points) against a real wakeful.

Each test runs `suite.mjs` in Node: every call of the scenario with `throwOnError: true`, every
answer validated against the reference's OpenAPI document. The short-timeout runs give the SDK a
fetch whose header and body timeouts are 3 s, and hold a 10 s prompt through it.
"""

from __future__ import annotations

import pytest

from tests.conformance.runner import SuiteRunner
from tests.support.server import WakefulProcess

ENTRIES = ["v1", "v2"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_sdk_scenario(run_suite: SuiteRunner, server: WakefulProcess, entry: str) -> None:
    run = run_suite(server, entry, "plain")
    assert f"[{entry} plain] all steps passed" in run.output


@pytest.mark.parametrize("entry", ENTRIES)
def test_sdk_scenario_with_short_client_timeouts(
    run_suite: SuiteRunner, server: WakefulProcess, entry: str
) -> None:
    run = run_suite(server, entry, "short-timeouts", SHORT_TIMEOUT_MS="3000", LONG_CALL_SECONDS="10")
    assert f"[{entry} short-timeouts] ok   a 10 s prompt through 3000 ms header/body timeouts" in run.output
    assert f"[{entry} short-timeouts] all steps passed" in run.output
    assert run.seconds >= 10
