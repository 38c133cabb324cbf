"""What git says about a project directory: its worktree, branches, and uncommitted changes.

These answer the UI routes (`/path`, `/vcs`, `/file/status`, `/session/{id}/diff`). git runs as an
async subprocess in the directory, never on the event loop's thread, with a time limit and an output
limit; a directory outside a git repository, a missing git, a failure, a timeout or output over the
limit all read as "git has nothing to say" (None or an empty list), never as an error of the route.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ChangeStatus = Literal["added", "deleted", "modified"]
# What git may read from the server's environment: enough to find itself and the user's git config
# (safe.directory among it), nothing that could make it prompt or page.
_PASSED = ("PATH", "HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")


@dataclass(frozen=True)
class FileChange:
    """One file that differs from HEAD (or, before the first commit, one file git sees)."""

    path: str
    status: ChangeStatus
    added: int
    removed: int
    patch: str | None = None  # None when not asked for, binary, or over the output limit


@dataclass(frozen=True)
class Git:
    env: Mapping[str, str]
    timeout: float
    max_bytes: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], timeout: float, max_bytes: int) -> Git:
        env = {k: environ[k] for k in _PASSED if environ.get(k)}
        env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat", GIT_OPTIONAL_LOCKS="0")
        return cls(env, timeout, max_bytes)

    async def run(self, directory: Path, *args: str) -> str | None:
        """git's standard output, or None when git failed, ran too long or said too much."""
        try:
            proc = await asyncio.create_subprocess_exec(
                "git",
                "-c",
                "core.quotepath=off",
                *args,
                cwd=directory,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return None
        assert proc.stdout is not None
        out = bytearray()
        try:
            async with asyncio.timeout(self.timeout):
                while chunk := await proc.stdout.read(65536):
                    out += chunk
                    if len(out) > self.max_bytes:
                        raise TimeoutError  # too much to say ends git like too long a run
                code = await proc.wait()
        except TimeoutError:
            return None
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        return out.decode(errors="replace") if code == 0 else None

    async def worktree(self, directory: Path) -> Path | None:
        """The root of the git worktree holding `directory`; None outside one."""
        out = await self.run(directory, "rev-parse", "--show-toplevel")
        return Path(out.strip()) if out and out.strip() else None

    async def branch(self, directory: Path) -> str | None:
        """The checked-out branch; None when HEAD is detached or outside a repository."""
        out = await self.run(directory, "symbolic-ref", "--quiet", "--short", "HEAD")
        return (out.strip() or None) if out else None

    async def default_branch(self, directory: Path) -> str | None:
        """The branch the primary remote calls its HEAD, else `init.defaultBranch`, `main` or
        `master` when such a local branch exists."""
        remotes = (await self.run(directory, "remote") or "").split()
        remote = _primary(remotes)
        if remote:
            head = await self.run(directory, "symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD")
            name = (head or "").strip().removeprefix(f"refs/remotes/{remote}/")
            if name and not name.startswith("refs/"):
                return name
        local = await self.run(directory, "for-each-ref", "--format=%(refname:short)", "refs/heads") or ""
        branches = set(local.split())
        configured = (await self.run(directory, "config", "init.defaultBranch") or "").strip()
        for name in (configured, "main", "master"):
            if name and name in branches:
                return name
        return None

    async def changes(self, directory: Path, *, patches: bool = False) -> list[FileChange]:
        """Every file of the worktree that differs from HEAD, untracked files as added, sorted by
        path (relative to the worktree's root). With `patches`, each carries its unified diff while
        the diffs together stay within the output limit."""
        root = await self.worktree(directory)
        if root is None:
            return []
        has_head = await self.run(root, "rev-parse", "--verify", "--quiet", "HEAD") is not None
        status = await self.run(root, "status", "--porcelain=v1", "-z", "--untracked-files=all")
        if status is None:
            return []
        counts = await self._numstat(root) if has_head else {}
        texts = await self._patches(root) if patches and has_head else {}
        found: list[FileChange] = []
        new: list[str] = []
        for path, state in _porcelain(status):
            if state == "added" and path not in counts:
                new.append(path)  # untracked, or added before the first commit
            else:
                added, removed = counts.get(path, (0, 0))
                found.append(FileChange(path, state, added, removed, texts.get(path)))
        budget = self.max_bytes - sum(len(t) for t in texts.values())
        found += await asyncio.to_thread(_new_files, root, new, self.max_bytes, budget if patches else None)
        return sorted(found, key=lambda c: c.path)

    async def _numstat(self, root: Path) -> dict[str, tuple[int, int]]:
        out = await self.run(root, "diff", "HEAD", "--numstat", "-z", "--no-renames", "--")
        counts: dict[str, tuple[int, int]] = {}
        for record in (out or "").split("\0"):
            fields = record.split("\t", 2)
            if len(fields) == 3:
                # binary files count "-": no lines
                counts[fields[2]] = (_int(fields[0]), _int(fields[1]))
        return counts

    async def _patches(self, root: Path) -> dict[str, str]:
        out = await self.run(root, "diff", "HEAD", "--no-renames", "--no-color", "--no-ext-diff", "--")
        patches: dict[str, str] = {}
        for chunk in _split_diff(out or ""):
            path = _diff_path(chunk)
            if path:
                patches[path] = chunk
        return patches


def _new_files(root: Path, paths: list[str], limit: int, budget: int | None) -> list[FileChange]:
    """Files git does not track yet: their lines (in the first `limit` bytes) count as added, and
    with a patch `budget` their diff against nothing while the budget lasts. Runs in a thread: they
    are files of any size."""
    found: list[FileChange] = []
    for path in paths:
        try:
            with (root / path).open("rb") as handle:
                data = handle.read(limit)
        except OSError:
            found.append(FileChange(path, "added", 0, 0))
            continue
        lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        patch = None
        if budget is not None and len(data) <= budget and b"\0" not in data:
            body = "".join(f"+{line}\n" for line in data.decode(errors="replace").splitlines())
            patch = f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            patch += f"@@ -0,0 +1,{lines} @@\n{body}" if lines else ""
            budget -= len(patch)
        found.append(FileChange(path, "added", lines, 0, patch))
    return found


def _primary(remotes: list[str]) -> str | None:
    if "origin" in remotes:
        return "origin"
    if len(remotes) == 1:
        return remotes[0]
    if "upstream" in remotes:
        return "upstream"
    return remotes[0] if remotes else None


def _porcelain(out: str) -> list[tuple[str, ChangeStatus]]:
    """(path, status) of each record of `git status --porcelain=v1 -z`. A staged rename is its new
    path, as modified; the record after it (the old path) is skipped."""
    records = out.split("\0")
    found: list[tuple[str, ChangeStatus]] = []
    skip = False
    for record in records:
        if skip:
            skip = False
            continue
        if len(record) < 4:
            continue
        code, path = record[:2], record[3:]
        if "R" in code or "C" in code:
            skip = True  # the next record is the rename's source
        if code == "??" or "A" in code:
            found.append((path, "added"))
        elif "D" in code:
            found.append((path, "deleted"))
        elif code != "!!":
            found.append((path, "modified"))
    return found


def _split_diff(text: str) -> list[str]:
    chunks: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("diff --git ") or not chunks:
            chunks.append(line)
        else:
            chunks[-1] += line
    return [c for c in chunks if c.startswith("diff --git ")]


def _diff_path(chunk: str) -> str | None:
    for line in chunk.splitlines():
        if line.startswith("+++ ") or line.startswith("--- "):
            name = line[4:].strip()
            if name != "/dev/null" and name[:2] in ("a/", "b/"):
                return name[2:]
    return None


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0
