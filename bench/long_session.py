"""A long session: 1,000 agent steps in one session, on SQLite, in process.

Shaped like an unattended monitoring agent: `--prompts` prompts (100) arrive one after another in
one session, each running `--tools` tool steps (9) and a final answer, so each prompt is 10 model
calls. Every tool step reads a 3 KB file of cluster events (about 750 tokens); the model is the
scripted one with a `--window`-token context window (16,000), so the history outgrows the window
every dozen steps or so and is compacted, as it would be in production.

What is measured is the server's own work per step: the time of each prompt, less the time spent
inside the model (the scripted model's stream, timed around each event it yields, a compaction's
summary call included) and inside the tool (timed around each call), divided by the prompt's steps.
That is history and request building, storage (SQLite, group commit), events, compaction
bookkeeping and run management. Both the process's CPU time (robust on a shared machine) and wall
time are reported, per hundred steps. They should stay flat as the session grows: a run loads only
the compacted view of the session, and a step extends it instead of rebuilding it.

    .venv/bin/python bench/long_session.py
    .venv/bin/python bench/long_session.py --prompts 100 --tools 9 --window 16000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.inproc import new_session, prompt_run, server_config  # noqa: E402
from tests.support.server import SCRIPTED, write_project_config  # noqa: E402

from wakeful.providers.base import ChatRequest, Provider, StreamEvent  # noqa: E402
from wakeful.providers.scripted import ScriptedProvider  # noqa: E402
from wakeful.run.manager import RunHandle  # noqa: E402
from wakeful.run.runtime import Runtime  # noqa: E402
from wakeful.tools.base import Tool, ToolContext, ToolResult  # noqa: E402

EVENT = "{n:>4}  Warning  BackOff  pod/api-{n:04}-7d9f  Back-off restarting failed container api in pod api-{n:04}-7d9f"


@dataclass
class Clock:
    """Wall and CPU seconds, added up."""

    wall: float = 0.0
    cpu: float = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


class TimedProvider(Provider):
    """The model, with the time spent inside its stream added up."""

    def __init__(self, inner: Provider, clock: Clock) -> None:
        self.id = inner.id
        self.inner = inner
        self.clock = clock

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        events = self.inner.stream(request)
        while True:
            with self.clock.timing():
                event = await anext(events, None)
            if event is None:
                return
            yield event

    async def aclose(self) -> None:
        await self.inner.aclose()


class TimedTool:
    """A tool, with the time spent in its calls added up."""

    def __init__(self, inner: Tool, clock: Clock) -> None:
        self.inner = inner
        self.definition = inner.definition
        self.read_only = inner.read_only
        self.clock = clock

    async def call(self, raw_args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        with self.clock.timing():
            return await self.inner.call(raw_args, ctx)


def project(directory: Path, window: int) -> None:
    directory.mkdir()
    (directory / "events.txt").write_text("\n".join(EVENT.format(n=n) for n in range(30)) + "\n")
    path = write_project_config(directory, SCRIPTED)
    config = json.loads(path.read_text())
    config["provider"]["mock"]["models"]["mock-model"]["limit"] = {"context": window, "output": 1_000}
    path.write_text(json.dumps(config))


@dataclass
class Prompt:
    steps: int
    wall: float  # server seconds per step
    cpu: float
    compactions: int  # so far


async def bench(prompts: int, tools: int, window: int) -> list[Prompt]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "project"
        project(directory, window)
        (Path(tmp) / "data").mkdir()
        config = server_config(Path(tmp) / "data", directory)
        runtime = Runtime.build(config)
        await runtime.store.open()
        outside = Clock()  # the model and the tool
        scripted = runtime.provider(runtime.catalog(directory).resolve())
        assert isinstance(scripted, ScriptedProvider)
        model = TimedProvider(scripted, outside)
        runtime.provider = lambda choice: model  # type: ignore[method-assign]
        runtime.tools["read"] = TimedTool(runtime.tools["read"], outside)
        script = "\n".join([f'TOOL read {{"filePath": "{directory / "events.txt"}"}}'] * tools)
        rows: list[Prompt] = []
        try:
            session = await new_session(runtime)
            for n in range(prompts):
                before = Clock(outside.wall, outside.cpu)
                total = Clock()
                with total.timing():
                    run = prompt_run(runtime, session, f"check #{n}\n{script}\nREPLY all checked")
                    handle = await runtime.runs.submit(run)
                    assert isinstance(handle, RunHandle)
                    reply = await handle.wait()
                assert reply["info"].get("error") is None, reply["info"]["error"]
                stored = await runtime.messages.list_raw(session.id, limit=4 * (tools + 1) + 8)
                steps = sum(1 for m in stored if m["info"].get("parentID") == run.message_id)
                wall = total.wall - (outside.wall - before.wall)
                cpu = total.cpu - (outside.cpu - before.cpu)
                compactions = sum(1 for r in scripted.requests if r.request.purpose == "summary")
                rows.append(Prompt(steps, wall / steps, cpu / steps, compactions))
        finally:
            runtime.runs.stop_accepting()
            await runtime.runs.drain(0, "bench over")
            await runtime.providers.aclose()
            await runtime.store.close()
        return rows


def table(rows: list[Prompt], groups: int = 10) -> list[str]:
    """Per-step server overhead, prompts taken in `groups` groups of equal size."""
    out = []
    size = max(1, len(rows) // groups)
    first = 1
    for start in range(0, len(rows), size):
        group = rows[start : start + size]
        steps = sum(r.steps for r in group)
        cpu = statistics.fmean(r.cpu * 1000 for r in group for _ in range(r.steps))
        wall = [r.wall * 1000 for r in group for _ in range(r.steps)]
        out.append(
            f"| {first}-{first + steps - 1} | {cpu:.2f} | {statistics.fmean(wall):.2f} "
            f"| {statistics.median(wall):.2f} | {group[-1].compactions} |"
        )
        first += steps
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--tools", type=int, default=9, help="tool steps per prompt (plus one answer)")
    parser.add_argument("--window", type=int, default=16_000, help="the model's context window, tokens")
    args = parser.parse_args()
    rows = asyncio.run(bench(args.prompts, args.tools, args.window))
    total = sum(r.steps for r in rows)
    print(f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}")
    print(f"{args.prompts} prompts x {args.tools + 1} steps = {total} steps; {rows[-1].compactions} compactions")
    print("| steps | server CPU ms/step | server wall ms/step, mean | median | compactions so far |")
    print("|---|---|---|---|---|")
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
