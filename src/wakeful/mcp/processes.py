"""The process groups of running local MCP servers, recorded in the data directory for crash recovery.

A run's tool processes are recorded with the run in the store; MCP servers outlive runs, so they
are recorded here instead, in `mcp-processes.json`: a file, not a table, because a process group id
means something only on this machine and until it reboots, while a store may be a PostgreSQL
database that servers on other machines share. The data directory is this server's alone (its lock
says so), so whatever the file lists at start was left by a server of this directory that is gone.
The file also names the boot it was written in: groups of an earlier boot are not ours to kill.

Invariant: a group is in the file before its server runs (see `wakeful.mcp.stdio`), and leaves it
once the group is dead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path

from wakeful.tools.bash import signal_group

log = logging.getLogger("wakeful.mcp")
FILE_NAME = "mcp-processes.json"


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class ProcessRecord:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME
        self._groups: dict[int, str] = {}  # pgid -> the server it runs
        self._lock = asyncio.Lock()
        self._boot = boot_id()

    async def add(self, pgid: int, server: str) -> None:
        async with self._lock:
            self._groups[pgid] = server
            await asyncio.to_thread(self._write, dict(self._groups))

    async def remove(self, pgid: int) -> None:
        async with self._lock:
            if self._groups.pop(pgid, None) is not None:
                await asyncio.to_thread(self._write, dict(self._groups))

    def _write(self, groups: dict[int, str]) -> None:
        """Replace the file whole, so that a crash mid-write leaves the old one or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        data = {"boot": self._boot, "groups": {str(k): v for k, v in groups.items()}}
        with open(temporary, "w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)

    async def kill_left_over(self) -> int:
        """SIGKILL the groups a dead server of this data directory left, and forget them; answers
        how many were listed."""
        return await asyncio.to_thread(self._kill_left_over)

    def _kill_left_over(self) -> int:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.warning(
                "cannot read %s (%s); MCP servers a crashed server left are not killed", self.path, exc
            )
            return 0
        groups = data.get("groups") or {}
        if data.get("boot") == self._boot:
            for pgid, server in groups.items():
                log.warning(
                    "killing MCP server %s (process group %s) left by a server that stopped", server, pgid
                )
                signal_group(int(pgid), signal.SIGKILL)
        self.path.unlink(missing_ok=True)
        return len(groups)
