"""Large tool outputs: what the model sees of them, and where all of it is kept.

An output longer than the run's limits (`tool_output.max_lines` / `max_bytes` of opencode.json,
by default the server's `tool_output_max_lines` / `tool_output_max_bytes`) reaches the model cut
short, with a note naming the file that holds the whole text; the agent reads that file back with
the read tool (offset and limit) or searches it with grep. The files live in one directory,
`<data dir>/tool-output/`, one per output, and are deleted once older than a week.

Reading them back is allowed whatever a project's `external_directory` rule says: a permission
check asks `KeptOutputs.holds(path)` (the run's `ToolContext.outputs`) before it asks the rule.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import IO

from wakeful import ids
from wakeful.tools.base import ToolContext, ToolResult

RETENTION_SECONDS = 7 * 24 * 3600


class KeptOutputs:
    """The directory of full tool outputs. Files older than `retention` seconds go the first time
    this process keeps something (in a thread)."""

    def __init__(self, directory: Path, retention: float = RETENTION_SECONDS) -> None:
        self.directory = directory
        self.retention = retention
        self._swept = False

    def holds(self, path: Path) -> bool:
        """Whether `path` names a file in this directory (after resolving `..` and links)."""
        return Path(os.path.realpath(path)).parent == Path(os.path.realpath(self.directory))

    def _new_path(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / ids.new_id("tool")

    def _sweep(self) -> None:
        if self._swept:
            return
        self._swept = True
        cutoff = time.time() - self.retention
        for old in self.directory.iterdir():
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:
                continue

    def open_spill(self) -> tuple[Path, IO[bytes]]:
        """A new file to stream an output into, for a writer that writes in small buffered pieces
        as the output arrives; call `swept` once it is done."""
        path = self._new_path()
        return path, path.open("wb")

    async def swept(self) -> None:
        if not self._swept:
            await asyncio.to_thread(self._sweep)

    async def keep(self, text: str) -> Path:
        """Store `text` in a new file; its path."""

        def write() -> Path:
            path = self._new_path()
            path.write_text(text, encoding="utf-8")
            self._sweep()
            return path

        return await asyncio.to_thread(write)


def cut(text: str, max_lines: int, max_bytes: int) -> tuple[str, str] | None:
    """The head of `text` within both limits and what was left out ("120 lines"), or None when the
    whole text fits."""
    lines = text.split("\n")
    size = len(text.encode())
    if len(lines) <= max_lines and size <= max_bytes:
        return None
    kept: list[str] = []
    used = 0
    for line in lines[:max_lines]:
        cost = len(line.encode()) + (1 if kept else 0)
        if used + cost > max_bytes:
            return "\n".join(kept), f"{size - used} bytes"
        kept.append(line)
        used += cost
    return "\n".join(kept), f"{len(lines) - len(kept)} lines"


def kept_note(path: Path) -> str:
    return (
        f"The output was too long to show in full; all of it is in {path}. "
        "Read that file with the read tool (offset and limit) or search it with grep."
    )


async def limit_output(result: ToolResult, ctx: ToolContext) -> ToolResult:
    """`result` as the model may see it: cut to the run's limits, the whole output kept on disk. A
    tool that bounded its own output says so with `metadata["truncated"]` and is left alone."""
    if "truncated" in result.metadata or ctx.outputs is None:
        return result
    config = ctx.config
    shortened = cut(result.output, config.tool_output_max_lines, config.tool_output_max_bytes)
    if shortened is None:
        return result
    head, dropped = shortened
    path = await ctx.outputs.keep(result.output)
    output = f"{head}\n\n... {dropped} truncated ...\n\n{kept_note(path)}"
    return replace(result, output=output, metadata={**result.metadata, "truncated": True, "outputPath": str(path)})
