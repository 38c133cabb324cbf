"""The read, write and edit tools.

Paths are resolved for real and confined (`wakeful.tools.paths`); each call asks `read` or `edit`.
File work runs in the tool pool, on files opened non-blocking and refused unless regular
(`wakeful.project.files`), and reads are bounded: a FIFO, a device or a huge line cannot hold a
thread, and a cancelled call gives its thread back.
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pydantic import Field

from wakeful.errors import ToolError
from wakeful.project.files import NotRegularFileError, regular_file
from wakeful.tools.base import ToolContext, ToolResult
from wakeful.tools.paths import confine, confined_path, display_path, real_path, worktree_relative
from wakeful.tools.typed import ToolArgs, tool

MAX_LINE_CHARS = 2_000
_LINE_BYTES = MAX_LINE_CHARS * 4  # enough for MAX_LINE_CHARS characters of UTF-8
EDIT_MAX_BYTES = 16 << 20  # edit reads a file whole; a larger one is refused
_BINARY_SUFFIXES = frozenset(
    ".7z .a .bin .bmp .class .dll .dylib .exe .gif .gz .ico .jar .jpeg .jpg .mp3 .mp4 .o .pdf .png "
    ".pyc .so .tar .tgz .wasm .webp .xz .zip .zst".split()
)


def looks_binary(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in _BINARY_SUFFIXES or b"\0" in head:
        return True
    if not head:
        return False
    control = sum(1 for b in head if (b < 32 and b not in b"\t\n\r\f\b") or b == 127)
    return control / len(head) > 0.3


def read_lines(f: BinaryIO, stop: threading.Event) -> Iterator[str]:
    """The lines of `f` without their line ends, each cut at MAX_LINE_CHARS (then ending in "...");
    the rest of a longer line is skipped without being held in memory. Ends early once `stop` is set."""
    while not stop.is_set():
        chunk = f.readline(_LINE_BYTES)
        if not chunk:
            return
        cut = False
        while not chunk.endswith(b"\n") and not stop.is_set():  # skip the rest of a long line
            rest = f.readline(_LINE_BYTES)
            if not rest:
                break
            cut = True
            if rest.endswith(b"\n"):
                break
        text = chunk.decode("utf-8", "replace").rstrip("\r\n")
        if cut or len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + "..."
        yield text


def _not_found(path: Path) -> ToolError:
    message = f"File not found: {path}"
    try:
        base = path.name.lower()
        near = [
            str(path.parent / name)
            for name in sorted(os.listdir(path.parent))
            if base in name.lower() or name.lower() in base
        ][:3]
    except OSError:
        near = []
    if near:
        message += "\n\nDid you mean one of these?\n" + "\n".join(near)
    return ToolError(message)


def _not_regular(path: Path, exc: NotRegularFileError, verb: str) -> ToolError:
    if exc.is_directory and verb == "read":
        return ToolError(f"{path} is a directory; use the list tool to see its contents")
    if exc.is_directory:
        return ToolError(f"{path} is a directory")
    return ToolError(f"Cannot {verb} {path}: {exc}")


def _read_window(
    path: Path, offset: int, limit: int, max_bytes: int, stop: threading.Event
) -> tuple[str, int, bool]:
    """The numbered lines from `offset`, how many were shown, and whether more follow."""
    out: list[str] = []
    size = 0
    total = 0
    more_note = ""
    try:
        with regular_file(path, follow=False) as f:
            if looks_binary(path, f.read(4096)):
                raise ToolError(f"Cannot read binary file: {path}")
            f.seek(0)
            for index, text in enumerate(read_lines(f, stop)):
                total = index + 1
                if index < offset:
                    continue
                if len(out) >= limit:
                    more_note = f"(File has more lines. Use 'offset' parameter to read beyond line {offset + len(out)})"
                    break
                numbered = f"{index + 1:05d}| {text}"
                size += len(numbered.encode()) + 1
                if size > max_bytes and out:
                    more_note = (
                        f"(Output capped at {max_bytes} bytes. "
                        f"Use 'offset' parameter to read beyond line {offset + len(out)})"
                    )
                    break
                out.append(numbered)
    except FileNotFoundError:
        raise _not_found(path) from None
    except NotRegularFileError as exc:
        raise _not_regular(path, exc, "read") from None
    if offset > 0 and offset >= total:
        raise ToolError(f"Offset {offset} is out of range for this file ({total} lines)")
    note = more_note or f"(End of file - total {total} lines)"
    body = "\n".join(out)
    return f"<file>\n{body}\n\n{note}\n</file>", len(out), bool(more_note)


def _read_text(path: Path) -> str:
    with regular_file(path, follow=False) as f:
        data = f.read(EDIT_MAX_BYTES + 1)
    if len(data) > EDIT_MAX_BYTES:
        raise ToolError(f"{path} is larger than {EDIT_MAX_BYTES} bytes; edit it with bash instead")
    if looks_binary(path, data[:4096]):
        raise ToolError(f"Cannot edit binary file: {path}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{path} is not valid UTF-8 text") from exc


def _write_text(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with regular_file(path, write=True, follow=False) as f:
        f.write(content.encode("utf-8"))  # bytes as given: the caller's line endings stay


def unified_diff(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), name, name, lineterm="")
    return "\n".join(lines) + "\n"


async def _ask_edit(ctx: ToolContext, path: Path) -> None:
    await ctx.ask("edit", [worktree_relative(ctx.directory, path)], metadata={"filepath": str(path)})


class ReadArgs(ToolArgs):
    filePath: str = Field(min_length=1, description="The path to the file to read")
    offset: int = Field(0, ge=0, description="The line number to start from (0-based)")
    limit: int | None = Field(None, ge=1, description="The number of lines to read")


@tool("read", read_only=True)
async def read_tool(args: ReadArgs, ctx: ToolContext) -> ToolResult:
    """Reads a text file and returns its lines numbered from 1, like `cat -n`.

    - 'filePath' may be absolute or relative to the project directory.
    - By default it reads up to 2000 lines from the start; for long files pass 'offset' (0-based line
    number) and 'limit' to read the part you need.
    - Lines longer than 2000 characters are cut. Binary files and directories are refused (use the
    list tool for directories).
    - Read a file before editing it, and read several files in parallel when useful.
    """
    path = real_path(ctx.directory, args.filePath)
    # A tool output kept whole because it was too long for the model may always be read back.
    if ctx.outputs is None or not ctx.outputs.holds(path):
        await confine(ctx, path)
        await ctx.ask("read", [str(path)])
    limit = ctx.config.read_max_lines if args.limit is None else args.limit
    max_bytes = ctx.config.tool_output_max_bytes
    try:
        output, shown, truncated = await ctx.pool.run(
            lambda stop: _read_window(path, args.offset, limit, max_bytes, stop)
        )
    except OSError as exc:
        raise ToolError(f"Could not read {path}: {exc}") from exc
    preview = "\n".join(output.splitlines()[1 : 1 + min(shown, 20)])
    return ToolResult(
        output=output,
        title=display_path(ctx, path),
        metadata={"preview": preview, "truncated": truncated, "lines": shown},
    )


class WriteArgs(ToolArgs):
    filePath: str = Field(min_length=1, description="The path to the file to write")
    content: str = Field(description="The content to write to the file")


@tool("write", read_only=False)
async def write_tool(args: WriteArgs, ctx: ToolContext) -> ToolResult:
    """Writes a file, replacing it if it exists and creating missing parent directories.

    - 'filePath' may be absolute or relative to the project directory.
    - Prefer the edit tool to change part of an existing file; read a file before overwriting it.
    - Do not create documentation or README files unless asked to.
    """
    path = await confined_path(ctx, args.filePath)
    await _ask_edit(ctx, path)

    def write(stop: threading.Event) -> bool:
        exists = path.exists()
        _write_text(path, args.content)
        return exists

    try:
        exists = await ctx.pool.run(write)
    except IsADirectoryError:
        raise ToolError(f"{path} is a directory") from None
    except NotRegularFileError as exc:
        raise _not_regular(path, exc, "write") from None
    except OSError as exc:
        raise ToolError(f"Could not write {path}: {exc}") from exc
    return ToolResult(
        output="Wrote file successfully.",
        title=display_path(ctx, path),
        metadata={"filepath": str(path), "exists": exists},
    )


class EditArgs(ToolArgs):
    filePath: str = Field(min_length=1, description="The path to the file to modify")
    oldString: str = Field(description="The text to replace")
    newString: str = Field(description="The text to replace it with")
    replaceAll: bool = Field(False, description="Replace all occurrences of oldString (default false)")


@tool("edit", read_only=False)
async def edit_tool(args: EditArgs, ctx: ToolContext) -> ToolResult:
    """Replaces exact text in a file.

    - 'oldString' must match the file exactly, including whitespace and indentation; copy it from the
    read tool's output without the line-number prefix.
    - The edit fails if 'oldString' is not found, or is found more than once: then include more
    surrounding lines to make it unique, or set 'replaceAll' to change every occurrence (useful for
    renames).
    - An empty 'oldString' creates a new file containing 'newString'.
    - Read the file before editing it.
    """
    if args.oldString == args.newString:
        raise ToolError("oldString and newString must be different")
    path = await confined_path(ctx, args.filePath)
    await _ask_edit(ctx, path)
    name = display_path(ctx, path)
    try:
        before, after, count = await ctx.pool.run(
            lambda stop: _edit(path, args.oldString, args.newString, args.replaceAll)
        )
    except NotRegularFileError as exc:
        raise _not_regular(path, exc, "edit") from None
    except OSError as exc:
        raise ToolError(f"Could not edit {path}: {exc}") from exc
    diff = unified_diff(before, after, name)
    added = sum(1 for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++"))
    removed = sum(1 for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---"))
    return ToolResult(
        output="Edit applied successfully."
        if count <= 1
        else f"Edit applied successfully ({count} replacements).",
        title=name,
        metadata={
            "filepath": str(path),
            "diff": diff,
            "additions": added,
            "deletions": removed,
            "replacements": count,
        },
    )


def _edit(path: Path, old: str, new: str, replace_all: bool) -> tuple[str, str, int]:
    """(before, after, replacements); writes the file."""
    if not path.exists():
        if old:
            raise _not_found(path)
        _write_text(path, new)
        return "", new, 1
    before = _read_text(path)
    if not old:
        if before:
            raise ToolError(
                "oldString is empty but the file already has content. Give the text to replace, "
                "or use the write tool to replace the whole file."
            )
        _write_text(path, new)
        return before, new, 1
    count = before.count(old)
    if count == 0 and "\r\n" in before and "\n" in old and "\r\n" not in old:
        # The model copied LF text out of a CRLF file; match it in the file's own line endings.
        old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
        count = before.count(old)
    if count == 0:
        raise ToolError(
            "oldString not found in the file. It must match exactly, including whitespace and "
            "indentation; read the file again and copy the text."
        )
    if count > 1 and not replace_all:
        raise ToolError(
            f"oldString was found {count} times in the file. Include more surrounding lines in "
            "oldString so it matches exactly one place, or set replaceAll to true to change all of them."
        )
    after = before.replace(old, new) if replace_all else before.replace(old, new, 1)
    _write_text(path, after)
    return before, after, count if replace_all else 1
