"""What the tools ask before they act (`ToolContext.ask`): confinement of real paths, one pattern per
command of a bash line, and the patterns each permission is asked with."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.errors import ToolError
from wakeful.tools.base import PermissionAsk, ToolContext
from wakeful.tools.bash import bash_tool
from wakeful.tools.files import edit_tool, read_tool, write_tool
from wakeful.tools.search import glob_tool, grep_tool, list_tool


class Gate:
    """Records every ask; refuses the permissions in `refuse`."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.asks: list[PermissionAsk] = []
        self.refuse = refuse

    async def __call__(self, ask: PermissionAsk) -> None:
        self.asks.append(ask)
        if ask.permission in self.refuse:
            raise ToolError(f"refused {ask.permission}")

    def asked(self) -> list[tuple[str, list[str]]]:
        return [(a.permission, a.patterns) for a in self.asks]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "app").mkdir()
    (root / "app" / "a.txt").write_text("hello\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    return root


def ctx(directory: Path, gate: Gate) -> ToolContext:
    return ToolContext("ses", "msg", "call", directory, gate=gate)


async def test_a_read_inside_asks_read_with_the_real_path(project: Path) -> None:
    gate = Gate()
    await read_tool.call({"filePath": "a.txt"}, ctx(project / "app", gate))
    assert gate.asked() == [("read", [str(project / "app" / "a.txt")])]
    assert gate.asks[0].always == ["*"] and gate.asks[0].call_id == "call"


async def test_the_worktree_root_counts_as_inside(project: Path) -> None:
    (project / "top.txt").write_text("x")
    gate = Gate()
    await read_tool.call({"filePath": "../top.txt"}, ctx(project / "app", gate))
    assert [p for p, _ in gate.asked()] == ["read"]


async def test_a_symlink_out_of_the_project_is_outside(project: Path) -> None:
    (project / "app" / "link.txt").symlink_to(project.parent / "outside.txt")
    gate = Gate(refuse=frozenset({"external_directory"}))
    with pytest.raises(ToolError, match="refused external_directory"):
        await read_tool.call({"filePath": "link.txt"}, ctx(project / "app", gate))
    (ask,) = gate.asks
    assert ask.patterns == ask.always == [f"{project.parent.as_posix()}/*"]
    assert ask.metadata["filepath"] == str(project.parent / "outside.txt")


async def test_edit_and_write_ask_edit_relative_to_the_worktree_root(project: Path) -> None:
    gate = Gate()
    c = ctx(project / "app", gate)
    await write_tool.call({"filePath": "new.txt", "content": "x"}, c)
    await edit_tool.call({"filePath": "a.txt", "oldString": "hello", "newString": "bye"}, c)
    assert gate.asked() == [("edit", ["app/new.txt"]), ("edit", ["app/a.txt"])]
    gate = Gate(refuse=frozenset({"edit"}))
    with pytest.raises(ToolError, match="refused edit"):
        await write_tool.call({"filePath": "b.txt", "content": "x"}, ctx(project / "app", gate))
    assert not (project / "app" / "b.txt").exists()


async def test_search_tools_ask_their_own_permission(project: Path) -> None:
    gate = Gate()
    c = ctx(project, gate)
    await glob_tool.call({"pattern": "**/*.txt"}, c)
    await grep_tool.call({"pattern": "hel+o"}, c)
    await list_tool.call({"path": "app"}, c)
    assert gate.asked() == [("glob", ["**/*.txt"]), ("grep", ["hel+o"]), ("list", [str(project / "app")])]


async def test_bash_asks_for_every_command_of_the_line(project: Path) -> None:
    gate = Gate(refuse=frozenset({"bash"}))
    with pytest.raises(ToolError, match="refused bash"):
        await bash_tool.call({"command": "ls && git status --short | wc -l; rm x"}, ctx(project, gate))
    (ask,) = gate.asks
    assert ask.patterns == ["ls", "git status --short", "wc -l", "rm x"]
    assert ask.always == ["ls *", "git status *", "wc *", "rm *"]
    assert ask.metadata["command"] == "ls && git status --short | wc -l; rm x"


async def test_bash_asks_to_leave_the_project_for_paths_redirections_and_workdir(project: Path) -> None:
    gate = Gate(refuse=frozenset({"external_directory"}))
    with pytest.raises(ToolError):
        await bash_tool.call({"command": "ls && rm -rf ../outside.txt > /dev/null"}, ctx(project, gate))
    assert gate.asked() == [("external_directory", [f"{project.parent.as_posix()}/*"])]
    gate = Gate(refuse=frozenset({"external_directory"}))
    with pytest.raises(ToolError):
        await bash_tool.call({"command": "echo x > /etc/motd.wakeful"}, ctx(project, gate))
    assert gate.asked() == [("external_directory", ["/etc/*"])]
    gate = Gate(refuse=frozenset({"external_directory"}))
    with pytest.raises(ToolError):
        await bash_tool.call({"command": "ls", "workdir": str(project.parent)}, ctx(project, gate))
    assert gate.asked() == [("external_directory", [f"{project.parent.as_posix()}/*"])]


async def test_bash_inside_the_project_asks_only_bash(project: Path) -> None:
    gate = Gate()
    result = await bash_tool.call({"command": "cd app && cat a.txt 2>/dev/null"}, ctx(project, gate))
    assert "hello" in result.output
    assert gate.asked() == [("bash", ["cat a.txt"])]  # `cd` itself is not asked


async def test_a_fifo_is_refused_without_waiting(project: Path) -> None:
    import os

    os.mkfifo(project / "app" / "pipe")
    with pytest.raises(ToolError, match="named pipe"):
        await read_tool.call({"filePath": "pipe"}, ctx(project / "app", Gate()))
    result = await grep_tool.call({"pattern": "hello"}, ctx(project / "app", Gate()))
    assert "a.txt" in result.output  # the FIFO in the tree is skipped, not waited on
