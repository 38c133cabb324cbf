"""Instruction files: a project's `AGENTS.md` (and friends) as the reference loads them into the
system prompt, in its order:

1. the project's file: the first of `AGENTS.md`, `CLAUDE.md`, `CONTEXT.md` found from the directory
   up to the git worktree root; every copy of that name on the way, nearest first;
2. the global file: the first of `$OPENCODE_CONFIG_DIR/AGENTS.md`,
   `$XDG_CONFIG_HOME/opencode/AGENTS.md` (default `~/.config/opencode/AGENTS.md`) and
   `~/.claude/CLAUDE.md` that exists;
3. the `instructions` entries of opencode.json: `~/` is the home directory, an absolute path is a
   glob of its last component in its directory, a relative one is globbed in the directory and in
   each parent up to the worktree root. URLs are skipped (wakeful fetches nothing at prompt time).

`OPENCODE_DISABLE_CLAUDE_CODE_PROMPT` leaves out both `CLAUDE.md` files. Each file becomes one
system text, `Instructions from: <path>` then its content; a file is read once however many rules
find it. Results are cached per directory and `instructions` list, and looked at again (in a thread:
globbing and reading never run on the event loop) at most once per `freshness` seconds; a changed,
added or removed file is then picked up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from wakeful.project.config import global_config_dir, home_dir, project_chain

PROJECT_FILES = ("AGENTS.md", "CLAUDE.md", "CONTEXT.md")

_Fingerprint = tuple[tuple[Path, int, int], ...]


def _exists(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


class Instructions:
    def __init__(self, environ: Mapping[str, str], freshness: float = 0.0) -> None:
        self.environ = environ
        self.freshness = freshness
        self._cache: dict[tuple[Path, tuple[str, ...]], tuple[float, _Fingerprint, tuple[str, ...]]] = {}

    @property
    def _claude(self) -> bool:
        return not self.environ.get("OPENCODE_DISABLE_CLAUDE_CODE_PROMPT")

    async def load(self, directory: Path, configured: Sequence[str] = ()) -> tuple[str, ...]:
        """The system texts of every instruction file that applies to `directory`."""
        key = (directory, tuple(configured))
        cached = self._cache.get(key)
        if cached and time.monotonic() - cached[0] < self.freshness:
            return cached[2]
        texts = await asyncio.to_thread(self._refresh, key, cached)
        return texts

    def _refresh(
        self,
        key: tuple[Path, tuple[str, ...]],
        cached: tuple[float, _Fingerprint, tuple[str, ...]] | None,
    ) -> tuple[str, ...]:
        paths = self.paths(*key)
        fingerprint = tuple((p, *self._stat(p)) for p in paths)
        if cached and cached[1] == fingerprint:
            texts = cached[2]
        else:
            texts = tuple(t for t in (self._read(p) for p in paths) if t)
        self._cache[key] = (time.monotonic(), fingerprint, texts)
        return texts

    @staticmethod
    def _stat(path: Path) -> tuple[int, int]:
        try:
            stat = path.stat()
        except OSError:
            return (0, -1)
        return (stat.st_mtime_ns, stat.st_size)

    @staticmethod
    def _read(path: Path) -> str:
        try:
            content = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return f"Instructions from: {path}\n{content}" if content else ""

    def paths(self, directory: Path, configured: Sequence[str]) -> list[Path]:
        """Every instruction file, in the order the system prompt gets them (blocking: call it in
        a thread)."""
        upward = list(reversed(project_chain(directory)))  # the directory first, the worktree root last
        found: dict[Path, None] = {}
        for name in PROJECT_FILES:
            if name == "CLAUDE.md" and not self._claude:
                continue
            matches = [d / name for d in upward if _exists(d / name)]
            if matches:
                found.update((m.resolve(), None) for m in matches)
                break
        home = home_dir(self.environ)
        globals_ = [global_config_dir(self.environ) / "AGENTS.md"]
        if self.environ.get("OPENCODE_CONFIG_DIR"):
            globals_.insert(0, Path(self.environ["OPENCODE_CONFIG_DIR"]) / "AGENTS.md")
        if self._claude:
            globals_.append(home / ".claude" / "CLAUDE.md")
        first = next((g for g in globals_ if _exists(g)), None)
        if first is not None:
            found[first.resolve()] = None
        for entry in configured:
            for match in self._glob(entry, upward, home):
                found[match.resolve()] = None
        return list(found)

    @staticmethod
    def _glob(entry: str, upward: list[Path], home: Path) -> list[Path]:
        if entry.startswith(("http://", "https://")) or not entry.strip():
            return []
        pattern = str(home / entry[2:]) if entry.startswith("~/") else entry
        if Path(pattern).is_absolute():
            where = Path(pattern)
            return sorted(p for p in where.parent.glob(where.name) if _exists(p))
        out: list[Path] = []
        for directory in upward:
            try:
                out += sorted(p for p in directory.glob(pattern) if _exists(p))
            except (OSError, ValueError):
                continue
        return out
