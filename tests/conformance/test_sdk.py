"""opencode's JavaScript SDK (@opencode-ai/sdk 1.18.33, both entry points) against a real wakeful.

Each test runs `suite.mjs` in Node: every call of the scenario with `throwOnError: true`, every
answer validated against the reference's OpenAPI document. The short-timeout runs give the SDK a
fetch whose header and body timeouts are 3 s, and hold a 10 s prompt through it; the two entry
points run those at the same time (against one server, as real clients would), to keep the suite
short.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conformance.runner import NodeRun, SuiteRunner
from tests.support.server import WakefulProcess

ENTRIES = ["v1", "v2"]
TIMEOUT_MS = 3000
LONG_CALL_SECONDS = 10


@pytest.mark.parametrize("entry", ENTRIES)
def test_sdk_scenario(run_suite: SuiteRunner, server: WakefulProcess, entry: str) -> None:
    run = run_suite(server, entry, "plain")
    assert f"[{entry} plain] all steps passed" in run.output


@pytest.fixture(scope="module")
def short_timeout_runs(run_suite: SuiteRunner, server: WakefulProcess) -> dict[str, NodeRun | AssertionError]:
    extra = {"SHORT_TIMEOUT_MS": str(TIMEOUT_MS), "LONG_CALL_SECONDS": str(LONG_CALL_SECONDS)}
    with ThreadPoolExecutor(len(ENTRIES)) as pool:
        futures = {e: pool.submit(run_suite, server, e, "short-timeouts", **extra) for e in ENTRIES}
    results: dict[str, NodeRun | AssertionError] = {}
    for entry, future in futures.items():
        try:
            results[entry] = future.result()
        except AssertionError as failure:
            results[entry] = failure
    return results


@pytest.mark.parametrize("entry", ENTRIES)
def test_sdk_scenario_with_short_client_timeouts(
    short_timeout_runs: dict[str, NodeRun | AssertionError], entry: str
) -> None:
    run = short_timeout_runs[entry]
    if isinstance(run, AssertionError):
        raise run
    prefix = f"[{entry} short-timeouts]"
    assert (
        f"{prefix} ok   a {LONG_CALL_SECONDS} s prompt through {TIMEOUT_MS} ms header/body timeouts"
        in run.output
    )
    assert f"{prefix} all steps passed" in run.output
    assert run.seconds >= LONG_CALL_SECONDS
