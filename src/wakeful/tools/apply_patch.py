"""The apply_patch tool: adds, updates, moves and deletes files with one patch (`wakeful.tools.patch`).

It is offered instead of edit and write to the models trained on this format
(`wakeful.tools.registry.uses_apply_patch`). All or nothing: every path is resolved and confined like
the edit tool's, every hunk is applied in memory against the files as they are (a file named twice
sees the earlier change), and only then, once `edit` is allowed for every path, are the files
written: new contents to temporary files beside their targets first, then renamed over them, then
deletions. A hunk that does not apply, or a file that cannot be staged, leaves every file as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from wakeful.errors import ToolError
from wakeful.project.files import NotRegularFileError, read_regular
from wakeful.tools.base import ToolContext, ToolResult
from wakeful.tools.files import EDIT_MAX_BYTES, looks_binary, unified_diff
from wakeful.tools.patch import AddFile, DeleteFile, FileChange, PatchError, UpdateFile, apply_hunks, parse
from wakeful.tools.paths import confined_path, worktree_relative
from wakeful.tools.typed import NonBlank, ToolArgs, tool

Kind = Literal["add", "update", "move", "delete"]


class PartlyWrittenError(OSError):
    """Renaming the staged files into place failed after some of them were."""


@dataclass
class Change:
    """One file change of the patch, applied in memory."""

    kind: Kind
    path: Path
    before: str
    after: str
    move_to: Path | None = None


def _read(path: Path) -> str:
    try:
        data, more = read_regular(path, EDIT_MAX_BYTES, follow=False)
    except FileNotFoundError:
        raise PatchError(f"{path} does not exist") from None
    except NotRegularFileError as exc:
        raise PatchError(f"{path} is {exc.kind}, not a file") from None
    if more:
        raise PatchError(f"{path} is larger than {EDIT_MAX_BYTES} bytes; change it with bash instead")
    if looks_binary(path, data[:4096]):
        raise PatchError(f"{path} is a binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PatchError(f"{path} is not valid UTF-8 text") from None


def _plan(changes: list[tuple[FileChange, Path, Path | None]], stop: threading.Event) -> list[Change]:
    """Every change applied in memory, in order; files are only read."""
    state: dict[Path, str | None] = {}  # what the patch made of a path so far; None: deleted

    def current(path: Path) -> str:
        if path in state:
            text = state[path]
            if text is None:
                raise PatchError(f"{path} was deleted earlier in this patch")
            return text
        return _read(path)

    planned: list[Change] = []
    for change, path, move_to in changes:
        if stop.is_set():
            raise PatchError("the call was stopped")
        if isinstance(change, AddFile):
            before = state.get(path) or ""
            planned.append(Change("add", path, before, change.content))
            state[path] = change.content
        elif isinstance(change, DeleteFile):
            planned.append(Change("delete", path, current(path), ""))
            state[path] = None
        else:
            before = current(path)
            after = apply_hunks(str(path), before, change.hunks)
            if move_to is not None and move_to != path:
                planned.append(Change("move", path, before, after, move_to))
                state[path], state[move_to] = None, after
            else:
                planned.append(Change("update", path, before, after))
                state[path] = after
    return planned


@dataclass
class Final:
    """What a path holds once the patch is applied: `text`, or nothing (deleted); a written file
    takes the mode of `like` (itself, or the file it was moved from) if that exists."""

    text: str | None
    like: Path


def _final(planned: list[Change]) -> dict[Path, Final]:
    out: dict[Path, Final] = {}
    for change in planned:
        like = out[change.path].like if change.path in out else change.path
        if change.kind == "delete":
            out[change.path] = Final(None, change.path)
        elif change.kind == "move":
            assert change.move_to is not None
            out[change.path] = Final(None, change.path)
            out[change.move_to] = Final(change.after, like)
        else:
            out[change.path] = Final(change.after, like)
    return out


def _stage(path: Path, final: Final) -> Path:
    """The new content in a new file beside `path`, with the mode it is to have."""
    assert final.text is not None
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.patch")
    # Created as any new file is (0o666 less the umask), then given the mode of the file it replaces.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(final.text.encode("utf-8"))
        with contextlib.suppress(FileNotFoundError):
            temp.chmod(final.like.stat().st_mode & 0o7777)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _write(final: dict[Path, Final], stop: threading.Event) -> None:
    """Write the final state: stage every new content, then rename, then delete. A failure while
    staging removes what was staged (and the directories made for it) and changes nothing."""
    del stop  # the writes are few and bounded; stopping half-way would break all-or-nothing
    staged: list[tuple[Path, Path]] = []
    made: list[Path] = []
    try:
        for path, state in final.items():
            if state.text is None:
                continue
            missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
            for directory in reversed(missing):
                directory.mkdir()
                made.append(directory)
            staged.append((_stage(path, state), path))
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    try:
        for temp, path in staged:
            os.replace(temp, path)
        for path, state in final.items():
            if state.text is None:
                path.unlink(missing_ok=True)
    except OSError as exc:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise PartlyWrittenError(exc.errno, f"{exc.strerror}: {exc.filename}") from exc


def _counts(diff: str) -> tuple[int, int]:
    lines = diff.splitlines()
    added = sum(1 for ln in lines if ln.startswith("+") and not ln.startswith("+++"))
    removed = sum(1 for ln in lines if ln.startswith("-") and not ln.startswith("---"))
    return added, removed


class ApplyPatchArgs(ToolArgs):
    patchText: NonBlank = Field(
        description="The whole patch, from the line '*** Begin Patch' to the line '*** End Patch'"
    )


@tool("apply_patch", read_only=False)
async def apply_patch_tool(args: ApplyPatchArgs, ctx: ToolContext) -> ToolResult:
    """Changes files with a patch: creates, updates, moves and deletes any number of files at once.
    Either the whole patch applies or no file changes.

    The patch is this envelope around one section per file:

    *** Begin Patch
    *** Add File: path/to/new.py
    +each line of the new file, after a '+'
    *** Update File: path/to/old.py
    *** Move to: path/to/renamed.py      (only to move the file as well)
    @@ def handler():                    (a line of the file just above the change; may be left out)
     an unchanged line, after a space
    -a line to remove
    +a line to add
    *** Delete File: path/to/obsolete.py
    *** End Patch

    - Paths are relative to the project directory, or absolute.
    - In an update, give about three unchanged lines before and after each change so that it is
    found in one place; start another '@@' section for each separate change in the file.
    - Read a file before you update it: the removed and unchanged lines must match it.
    """
    try:
        changes = parse(args.patchText)
    except PatchError as exc:
        raise ToolError(f"The patch could not be read: {exc}") from None
    resolved: list[tuple[FileChange, Path, Path | None]] = []
    for change in changes:
        path = await confined_path(ctx, change.path)
        move_to = None
        if isinstance(change, UpdateFile) and change.move_to:
            move_to = await confined_path(ctx, change.move_to)
        resolved.append((change, path, move_to))
    try:
        planned = await ctx.pool.run(lambda stop: _plan(resolved, stop))
    except PatchError as exc:
        raise ToolError(f"The patch does not apply, so no file was changed: {exc}") from None
    except OSError as exc:
        raise ToolError(f"The patch was not applied, no file was changed: {exc}") from None

    def rel(path: Path) -> str:
        return worktree_relative(ctx.directory, path)

    files: list[dict[str, Any]] = []
    for done in planned:
        target = done.move_to or done.path
        diff = unified_diff(done.before, done.after, rel(target))
        added, removed = _counts(diff)
        entry: dict[str, Any] = {
            "filePath": str(done.path),
            "relativePath": rel(target),
            "type": done.kind,
            "patch": diff,
            "additions": added,
            "deletions": removed,
        }
        if done.move_to is not None:
            entry["movePath"] = str(done.move_to)
        files.append(entry)
    patterns = list(dict.fromkeys(rel(p) for p in _final(planned)))
    total = "".join(f["patch"] for f in files)
    await ctx.ask("edit", patterns, metadata={"filepath": ", ".join(patterns), "diff": total, "files": files})
    try:
        await ctx.pool.run(lambda stop: _write(_final(planned), stop))
    except PartlyWrittenError as exc:
        raise ToolError(f"The patch was applied only in part ({exc}): read the files it names") from None
    except OSError as exc:
        raise ToolError(f"The patch was not applied, no file was changed: {exc}") from None
    letters = {"add": "A", "delete": "D", "update": "M", "move": "M"}
    summary = "\n".join(f"{letters[f['type']]} {f['relativePath']}" for f in files)
    output = f"Success. Updated the following files:\n{summary}"
    return ToolResult(output=output, title=output, metadata={"diff": total, "files": files})
