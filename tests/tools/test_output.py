"""Large tool outputs: cut for the model, kept whole where the agent can read them back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wakeful.config import ServerConfig
from wakeful.tools.base import ToolContext, ToolResult
from wakeful.tools.bash import bash_tool
from wakeful.tools.files import read_tool
from wakeful.tools.output import KeptOutputs, cut, limit_output


def context(tmp_path: Path, **limits: int) -> ToolContext:
    config = ServerConfig.build({}, data_dir=tmp_path / "data", **limits)
    return ToolContext("ses", "msg", "call", tmp_path, config=config, outputs=KeptOutputs(tmp_path / "kept"))


def test_cut_keeps_the_head_within_both_limits() -> None:
    text = "\n".join(f"line {i}" for i in range(10))
    assert cut(text, 20, 1000) is None
    assert cut(text, 3, 1000) == ("line 0\nline 1\nline 2", "7 lines")
    assert cut(text, 20, 13) == ("line 0\nline 1", f"{len(text) - 13} bytes")


async def test_a_long_result_is_cut_and_kept_whole(tmp_path: Path) -> None:
    ctx = context(tmp_path, tool_output_max_lines=5)
    full = "\n".join(str(i) for i in range(100))
    result = await limit_output(ToolResult(output=full, title="t"), ctx)
    assert result.output.startswith("0\n1\n2\n3\n4\n\n... 95 lines truncated ...")
    kept = Path(result.metadata["outputPath"])
    assert result.metadata["truncated"] is True and str(kept) in result.output
    assert await asyncio.to_thread(kept.read_text) == full
    assert ctx.outputs is not None and ctx.outputs.holds(kept)
    assert not ctx.outputs.holds(tmp_path / "kept" / ".." / "elsewhere")
    short = ToolResult(output="short", title="t")
    assert await limit_output(short, ctx) is short
    bounded = ToolResult(output=full, title="t", metadata={"truncated": False})
    assert await limit_output(bounded, ctx) is bounded  # the tool bounded its output itself


async def test_bash_keeps_a_long_output_whole_and_says_where(tmp_path: Path) -> None:
    ctx = context(tmp_path, tool_output_max_bytes=2_000)
    result = await bash_tool.call({"command": "seq 1 20000", "description": "many numbers"}, ctx)
    kept = Path(result.metadata["outputPath"])
    assert result.metadata["truncated"] is True and f"all of it is in {kept}" in result.output
    assert await asyncio.to_thread(kept.read_text) == "".join(f"{i}\n" for i in range(1, 20001))
    assert len(result.output.encode()) < 3_000
    # the agent reads it back with the read tool
    read = await read_tool.call({"filePath": str(kept), "offset": 19_990, "limit": 5}, ctx)
    assert "19991| 19991" in read.output


async def test_bash_keeps_an_output_with_too_many_lines(tmp_path: Path) -> None:
    ctx = context(tmp_path, tool_output_max_lines=10)
    result = await bash_tool.call({"command": "seq 1 50"}, ctx)
    kept = Path(result.metadata["outputPath"])
    assert await asyncio.to_thread(kept.read_text) == "".join(f"{i}\n" for i in range(1, 51))
