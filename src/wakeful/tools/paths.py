"""The paths a tool touches: resolved for real, and confined to the project.

A path is made absolute against the project directory (`~` expanded) and resolved with its symbolic
links, so what a tool opens is where the bytes are, and a link inside the project that points out of
it is outside. A path within neither the project directory nor its worktree root (both resolved
too) needs the `external_directory` permission for `<its directory>/*`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from wakeful.project.config import project_chain
from wakeful.tools.base import ToolContext


def real_path(directory: Path, raw: str) -> Path:
    path = Path(raw).expanduser()
    return Path(os.path.realpath(path if path.is_absolute() else directory / path))


def project_roots(directory: Path) -> tuple[Path, ...]:
    """The project directory and its worktree root (the nearest ancestor holding `.git`), resolved."""
    return tuple(dict.fromkeys(Path(os.path.realpath(d)) for d in (directory, project_chain(directory)[0])))


def worktree_relative(directory: Path, path: Path) -> str:
    """`path` as `edit` rules see it: relative to the worktree root (`../` and up when outside)."""
    return Path(os.path.relpath(path, project_roots(directory)[-1])).as_posix()


def inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


async def confine(ctx: ToolContext, path: Path, kind: Literal["file", "directory"] = "file") -> None:
    """Return if `path` (already real) is in the project, or once leaving it is allowed."""
    if inside(path, project_roots(ctx.directory)):
        return
    parent = path if kind == "directory" else path.parent
    glob = parent.as_posix().rstrip("/") + "/*"
    await ctx.ask(
        "external_directory",
        [glob],
        always=[glob],
        metadata={"filepath": str(path), "parentDir": str(parent)},
    )


async def confined_path(ctx: ToolContext, raw: str, kind: Literal["file", "directory"] = "file") -> Path:
    """`raw` resolved for real, once `confine` lets it through."""
    path = real_path(ctx.directory, raw)
    await confine(ctx, path, kind)
    return path


def display_path(ctx: ToolContext, path: Path) -> str:
    """The path as the user thinks of it: relative inside the project, absolute outside."""
    for base in (ctx.directory, Path(os.path.realpath(ctx.directory))):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix() or "."
    return str(path)
