"""read, write and edit on a real temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.config import ServerConfig
from wakeful.errors import ToolError
from wakeful.tools.base import ToolContext
from wakeful.tools.files import edit_tool, read_tool, write_tool


def make_ctx(tmp_path: Path, config: ServerConfig | None = None) -> ToolContext:
    return ToolContext("ses", "msg", "call", tmp_path, config=config or ServerConfig.build({}))


# --- read ---------------------------------------------------------------------------------------


async def test_read_numbers_lines(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha\nbeta\n")
    result = await read_tool.call({"filePath": "a.txt"}, make_ctx(tmp_path))
    assert result.output == "<file>\n00001| alpha\n00002| beta\n\n(End of file - total 2 lines)\n</file>"
    assert result.title == "a.txt"
    assert result.metadata["truncated"] is False


async def test_read_offset_limit_and_more_note(tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    path.write_text("".join(f"line {i}\n" for i in range(1, 11)))
    result = await read_tool.call({"filePath": str(path), "offset": 3, "limit": 2}, make_ctx(tmp_path))
    assert "00004| line 4\n00005| line 5\n" in result.output
    assert "line 3" not in result.output and "line 6" not in result.output
    assert "Use 'offset' parameter to read beyond line 5" in result.output
    assert result.metadata["truncated"] is True


async def test_read_default_limit_from_limits(tmp_path: Path) -> None:
    (tmp_path / "many.txt").write_text("x\n" * 50)
    result = await read_tool.call(
        {"filePath": "many.txt"},
        make_ctx(tmp_path, ServerConfig.build({}, read_max_lines=10)),
    )
    assert "00010| x" in result.output and "00011|" not in result.output


async def test_read_offset_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one\n")
    with pytest.raises(ToolError, match="out of range"):
        await read_tool.call({"filePath": "a.txt", "offset": 5}, make_ctx(tmp_path))


async def test_read_missing_file_suggests_neighbours(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("x")
    with pytest.raises(ToolError, match="File not found") as info:
        await read_tool.call({"filePath": "config"}, make_ctx(tmp_path))
    assert "config.yaml" in info.value.message


async def test_read_directory_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="directory"):
        await read_tool.call({"filePath": str(tmp_path)}, make_ctx(tmp_path))


async def test_read_binary_refused(tmp_path: Path) -> None:
    (tmp_path / "blob.dat").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(ToolError, match="binary"):
        await read_tool.call({"filePath": "blob.dat"}, make_ctx(tmp_path))


async def test_read_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ToolError):
        await read_tool.call({}, make_ctx(tmp_path))
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ToolError):
        await read_tool.call({"filePath": "a.txt", "limit": 0}, make_ctx(tmp_path))


# --- write --------------------------------------------------------------------------------------


async def test_write_creates_parents_then_overwrites(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    result = await write_tool.call({"filePath": "deep/er/new.txt", "content": "one\r\n"}, ctx)
    target = tmp_path / "deep/er/new.txt"
    assert target.read_bytes() == b"one\r\n"  # no newline translation
    assert result.metadata == {"filepath": str(target), "exists": False}
    assert result.title == "deep/er/new.txt"
    result = await write_tool.call({"filePath": str(target), "content": "two"}, ctx)
    assert target.read_text() == "two"
    assert result.metadata["exists"] is True


async def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(ToolError):
        await write_tool.call({"filePath": "x.txt"}, make_ctx(tmp_path))
    with pytest.raises(ToolError, match="directory"):
        await write_tool.call({"filePath": ".", "content": "x"}, make_ctx(tmp_path))


async def test_write_then_read_round_trip(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    await write_tool.call({"filePath": "r.py", "content": "print('hi')\n"}, ctx)
    result = await read_tool.call({"filePath": "r.py"}, ctx)
    assert "00001| print('hi')" in result.output


# --- edit ---------------------------------------------------------------------------------------


async def test_edit_replaces_once_with_diff(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("a = 1\nb = 2\n")
    result = await edit_tool.call(
        {"filePath": "m.py", "oldString": "b = 2", "newString": "b = 3"}, make_ctx(tmp_path)
    )
    assert path.read_text() == "a = 1\nb = 3\n"
    diff = result.metadata["diff"]
    assert "--- m.py" in diff and "+++ m.py" in diff
    assert "-b = 2" in diff and "+b = 3" in diff
    assert result.metadata["additions"] == 1 and result.metadata["deletions"] == 1


async def test_edit_not_found(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("a = 1\n")
    with pytest.raises(ToolError, match="not found"):
        await edit_tool.call({"filePath": "m.py", "oldString": "zzz", "newString": "y"}, make_ctx(tmp_path))


async def test_edit_ambiguous_needs_context_or_replace_all(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("x\nx\n")
    ctx = make_ctx(tmp_path)
    with pytest.raises(ToolError, match="2 times"):
        await edit_tool.call({"filePath": "m.py", "oldString": "x", "newString": "y"}, ctx)
    assert path.read_text() == "x\nx\n"
    result = await edit_tool.call(
        {"filePath": "m.py", "oldString": "x", "newString": "y", "replaceAll": True}, ctx
    )
    assert path.read_text() == "y\ny\n"
    assert result.metadata["replacements"] == 2


async def test_edit_same_strings_refused(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("x\n")
    with pytest.raises(ToolError, match="different"):
        await edit_tool.call({"filePath": "m.py", "oldString": "x", "newString": "x"}, make_ctx(tmp_path))


async def test_edit_empty_old_string_creates_file(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    result = await edit_tool.call({"filePath": "new/f.txt", "oldString": "", "newString": "hello\n"}, ctx)
    assert (tmp_path / "new/f.txt").read_text() == "hello\n"
    assert "+hello" in result.metadata["diff"]
    with pytest.raises(ToolError, match="already has content"):
        await edit_tool.call({"filePath": "new/f.txt", "oldString": "", "newString": "other"}, ctx)


async def test_edit_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="File not found"):
        await edit_tool.call({"filePath": "nope.txt", "oldString": "a", "newString": "b"}, make_ctx(tmp_path))


async def test_edit_matches_lf_text_in_crlf_file(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    await edit_tool.call(
        {"filePath": "w.txt", "oldString": "one\ntwo", "newString": "1\n2"}, make_ctx(tmp_path)
    )
    assert path.read_bytes() == b"1\r\n2\r\nthree\r\n"


async def test_edit_directory_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="directory"):
        await edit_tool.call({"filePath": ".", "oldString": "a", "newString": "b"}, make_ctx(tmp_path))
