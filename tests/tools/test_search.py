"""glob, grep and list on a real temporary tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wakeful.errors import ToolError
from wakeful.tools.base import ToolContext
from wakeful.tools.search import expand_braces, glob_tool, grep_tool, list_tool


def make_ctx(tmp_path: Path) -> ToolContext:
    return ToolContext("ses", "msg", "call", tmp_path)


def put(root: Path, rel: str, text: str = "", mtime: float | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    put(tmp_path, "src/old.py", "def old():\n    return 1\n", mtime=1_000_000)
    put(tmp_path, "src/pkg/new.py", "def new():\n    # TODO: more\n    return 2\n", mtime=2_000_000)
    put(tmp_path, "src/app.ts", "const x = 1 // TODO\n", mtime=1_500_000)
    put(tmp_path, "README.md", "# TODO list\n", mtime=500_000)
    put(tmp_path, "node_modules/lib/index.py", "def hidden(): TODO\n")
    put(tmp_path, ".git/config.py", "TODO\n")
    put(tmp_path, ".gitignore", "generated/\n")
    put(tmp_path, "generated/out.py", "TODO\n")
    (tmp_path / "blob.py").write_bytes(b"TODO\x00\x01")
    return tmp_path


def test_expand_braces() -> None:
    assert expand_braces("*.{ts,tsx}") == ["*.ts", "*.tsx"]
    assert expand_braces("{a,b}/{c,d}") == ["a/c", "a/d", "b/c", "b/d"]
    assert expand_braces("plain") == ["plain"]


# --- glob ---------------------------------------------------------------------------------------


async def test_glob_newest_first_and_skips_junk(tree: Path) -> None:
    result = await glob_tool.call({"pattern": "**/*.py"}, make_ctx(tree))
    # blob.py was written just now; the others have old mtimes. Nothing from node_modules, .git
    # or the .gitignore'd generated/ directory.
    assert result.output.splitlines() == [str(tree / p) for p in ("blob.py", "src/pkg/new.py", "src/old.py")]


async def test_glob_basename_pattern_matches_any_depth_and_braces(tree: Path) -> None:
    result = await glob_tool.call({"pattern": "*.{ts,md}"}, make_ctx(tree))
    assert result.output.splitlines() == [str(tree / "src/app.ts"), str(tree / "README.md")]


async def test_glob_with_path_and_no_results(tree: Path) -> None:
    result = await glob_tool.call({"pattern": "*.py", "path": "src/pkg"}, make_ctx(tree))
    assert result.output == str(tree / "src/pkg/new.py")
    result = await glob_tool.call({"pattern": "*.rs"}, make_ctx(tree))
    assert result.output == "No files found"


async def test_glob_caps_results(tmp_path: Path) -> None:
    for i in range(105):
        put(tmp_path, f"f{i:03d}.txt")
    result = await glob_tool.call({"pattern": "*.txt"}, make_ctx(tmp_path))
    assert result.metadata == {"count": 105, "truncated": True}
    assert len([ln for ln in result.output.splitlines() if ln.endswith(".txt")]) == 100
    assert "Results are truncated" in result.output


async def test_glob_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="not found"):
        await glob_tool.call({"pattern": "*", "path": "nope"}, make_ctx(tmp_path))


# --- grep ---------------------------------------------------------------------------------------


async def test_grep_groups_by_file_newest_first(tree: Path) -> None:
    result = await grep_tool.call({"pattern": "TODO"}, make_ctx(tree))
    assert result.output == (
        "Found 3 matches\n"
        f"{tree / 'src/pkg/new.py'}:\n  Line 2:     # TODO: more\n\n"
        f"{tree / 'src/app.ts'}:\n  Line 1: const x = 1 // TODO\n\n"
        f"{tree / 'README.md'}:\n  Line 1: # TODO list"
    )
    assert result.metadata == {"matches": 3, "truncated": False}


async def test_grep_include_and_regex(tree: Path) -> None:
    result = await grep_tool.call({"pattern": r"def \w+\(", "include": "*.py"}, make_ctx(tree))
    assert "Found 2 matches" in result.output
    assert "Line 1: def new():" in result.output and "Line 1: def old():" in result.output


async def test_grep_single_file_and_no_match(tree: Path) -> None:
    result = await grep_tool.call({"pattern": "return", "path": "src/old.py"}, make_ctx(tree))
    assert result.output == f"Found 1 matches\n{tree / 'src/old.py'}:\n  Line 2:     return 1"
    result = await grep_tool.call({"pattern": "nothing-like-this"}, make_ctx(tree))
    assert result.output == "No files found"


async def test_grep_invalid_regex(tree: Path) -> None:
    with pytest.raises(ToolError, match="Invalid regular expression"):
        await grep_tool.call({"pattern": "(unclosed"}, make_ctx(tree))


async def test_grep_caps_matches(tmp_path: Path) -> None:
    put(tmp_path, "big.txt", "hit\n" * 150)
    result = await grep_tool.call({"pattern": "hit"}, make_ctx(tmp_path))
    assert result.output.count("  Line ") == 100
    assert result.metadata == {"matches": 150, "truncated": True}
    assert "Results are truncated" in result.output


# --- list ---------------------------------------------------------------------------------------


async def test_list_tree(tree: Path) -> None:
    result = await list_tool.call({}, make_ctx(tree))
    assert result.output == (
        f"{tree}/\n"
        "  src/\n"
        "    pkg/\n"
        "      new.py\n"
        "    app.ts\n"
        "    old.py\n"
        "  .gitignore\n"
        "  README.md\n"
        "  blob.py\n"
    )
    assert result.metadata == {"count": 6, "truncated": False}


async def test_list_ignore_and_path(tree: Path) -> None:
    result = await list_tool.call({"path": "src", "ignore": ["*.ts", "pkg/"]}, make_ctx(tree))
    assert result.output == f"{tree / 'src'}/\n  old.py\n"


async def test_list_caps_and_errors(tmp_path: Path) -> None:
    for i in range(120):
        put(tmp_path, f"d/f{i:03d}")
    result = await list_tool.call({"path": "d"}, make_ctx(tmp_path))
    assert result.metadata == {"count": 100, "truncated": True}
    with pytest.raises(ToolError):
        await list_tool.call({"path": "d/f000"}, make_ctx(tmp_path))
    with pytest.raises(ToolError):
        await list_tool.call({"ignore": "*.py"}, make_ctx(tmp_path))
