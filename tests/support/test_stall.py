"""The loop-stall guard itself: the detector sees a blocked loop and only that, and the autouse
fixture turns a stall into a failed test.

The scenarios run on loops of their own (`asyncio.run` in a sync test), so that the stall they cause
on purpose is not also seen by the guard around the test."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.stall import LoopStallDetector


def block(seconds: float) -> None:
    """What a careless coroutine does: a synchronous wait on the loop's thread."""
    time.sleep(seconds)


async def watched(body: str) -> list[float]:
    async with LoopStallDetector() as detector:
        if body == "block":
            block(0.4)
            await asyncio.sleep(0)
        elif body == "block at the end":
            block(0.4)
        elif body == "slices":
            for _ in range(20):  # as long in all, but the loop turns between the slices
                block(0.02)
                await asyncio.sleep(0)
        elif body == "await":
            await asyncio.sleep(0.4)
    return detector.stalls


@pytest.mark.parametrize("body", ["block", "block at the end"])
def test_a_blocked_loop_is_seen(body: str) -> None:
    (stall,) = asyncio.run(watched(body))
    assert stall >= 0.4 - 0.02 - 0.01  # the block, less at most one tick (and clock rounding)


async def collecting() -> list[float]:
    """A block while the collector reports a collection in progress: the collector's pause."""
    async with LoopStallDetector() as detector:
        detector._on_gc("start", {})
        block(0.4)
        detector._on_gc("stop", {})
        await asyncio.sleep(0)
    return detector.stalls


class Starved(LoopStallDetector):
    """A detector whose loop thread has waited `waited` seconds for a CPU, as it is told."""

    waited = 0.0

    def _waited_for_cpu(self) -> float:
        return self.waited


async def starved() -> list[float]:
    """A block the scheduler reports as time spent waiting for a CPU: a busy machine."""
    detector = Starved()
    async with detector:
        block(0.4)
        detector.waited = 0.4
        await asyncio.sleep(0)
    return detector.stalls


def test_time_in_the_garbage_collector_or_waiting_for_a_cpu_is_not_counted() -> None:
    assert asyncio.run(collecting()) == []
    assert asyncio.run(starved()) == []


@pytest.mark.parametrize("body", ["slices", "await"])
def test_a_loop_that_keeps_turning_is_not_flagged(body: str) -> None:
    assert asyncio.run(watched(body)) == []


def test_the_guard_fails_an_async_test_that_blocks_its_loop(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from tests.support.stall import guard_event_loop, loop_stall_guard  # noqa: F401")
    pytester.makepyfile(
        """
        import asyncio
        import time

        import pytest

        async def test_blocks():
            time.sleep(0.4)
            await asyncio.sleep(0)

        async def test_awaits():
            await asyncio.sleep(0.4)

        def test_sync_code_may_block():
            time.sleep(0.4)
        """
    )
    result = pytester.runpytest_inprocess(
        "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_blocks*", "*the event loop stalled 1 time(s)*"])
