"""The OS process table, read straight from /proc: what tests check tool processes against, and
what benchmarks measure.

Tests read it themselves rather than through `wakeful.tools.bash.group_members`, so that the code
that kills process groups is never also the judge of whether they died.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Proc:
    pid: int
    state: str
    ppid: int
    pgid: int
    argv: list[str]

    @property
    def live(self) -> bool:
        # Killed orphans stay zombies until init reaps them, which some container inits do only
        # every second or two; a zombie runs nothing, so only live processes count.
        return self.state not in ("Z", "X")

    @property
    def command(self) -> str:
        return " ".join(self.argv)


def processes() -> list[Proc]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(errors="replace")
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp ...
        state, ppid, pgid = stat[stat.rfind(")") + 2 :].split()[:3]
        found.append(Proc(int(entry.name), state, int(ppid), int(pgid), argv))
    return found


def live_group(pgid: int) -> list[int]:
    """Pids of the live members of process group `pgid`."""
    return [p.pid for p in processes() if p.pgid == pgid and p.live]


def running(command: str) -> list[int]:
    """Pids of live processes whose command line is exactly `command`."""
    return [p.pid for p in processes() if p.command == command and p.live]


def find_process(marker: str) -> tuple[int, int] | None:
    """(pid, pgid) of a live process, not a wakeful one, whose command line contains `marker`."""
    for p in processes():
        if p.live and marker in p.command and p.argv and "wakeful" not in p.argv[0]:
            return p.pid, p.pgid
    return None


def descendants(pid: int) -> dict[int, list[str]]:
    """Every process below `pid`, with its argv."""
    table = processes()
    found: dict[int, list[str]] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for p in table:
            if p.ppid == parent and p.pid not in found:
                found[p.pid] = p.argv
                frontier.append(p.pid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"process {pid} has no VmRSS")


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll a cheap local condition (a file, /proc); events are preferred where the server has one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """`wait_until` for async tests: polls without blocking the event loop."""
    async with asyncio.timeout(timeout):
        while not (value := predicate()):
            await asyncio.sleep(interval)
    return value
