"""The exclusive lock a server holds on its data directory.

SQLite in WAL mode is safe across processes, but two wakeful servers on one directory would each
believe they own every run (crash recovery would fail the other's runs). The lock file also tells
`wakeful run` and a refused second server which server holds the directory.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from wakeful.errors import StartupError

LOCK_NAME = "wakeful.lock"


def _holder(handle: IO[str]) -> dict[str, Any]:
    """What the holder of `handle`'s lock wrote about itself ({} when unreadable)."""
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def read_holder(data_dir: Path) -> dict[str, Any] | None:
    """Who holds the lock, if anybody does right now."""
    try:
        with open(data_dir / LOCK_NAME, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return _holder(handle)
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
    except OSError:
        return None


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.data_dir / LOCK_NAME, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            handle.close()
            who = f"pid {holder.get('pid', '?')}"
            if holder.get("url"):
                who += f" serving {holder['url']}"
            raise StartupError(
                f"data directory {self.data_dir} is in use by another wakeful server ({who})"
            ) from None
        self._handle = handle
        self.describe(pid=os.getpid())

    def describe(self, **info: Any) -> None:
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps(info))
        self._handle.flush()

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
