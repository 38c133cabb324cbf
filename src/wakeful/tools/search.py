"""The glob, grep and list tools.

Walking a tree runs in the tool pool (it can take seconds); its stop flag lets a cancelled call end
the walk instead of leaving it running. Files are opened non-blocking and only if regular, so a FIFO
in the tree is skipped, never waited on. Each call is confined to the project like any path and asks
its own permission (`glob` and `grep` with their pattern, `list` with its directory). Patterns follow
ripgrep's `--glob`: gitignore syntax, where a pattern without a slash matches at any depth, plus
`{a,b}` alternatives.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from wakeful.errors import ToolError
from wakeful.project.files import read_regular, regular_file
from wakeful.tools.base import ToolContext, ToolResult
from wakeful.tools.files import looks_binary, read_lines
from wakeful.tools.paths import confined_path, display_path
from wakeful.tools.typed import NonBlank, ToolArgs, tool

if TYPE_CHECKING:
    import pathspec

RESULT_CAP = 100
_GREP_COLLECT_CAP = 10_000  # enough to sort by mtime; a bigger haystack needs a better needle
_TRUNCATED_NOTE = "(Results are truncated. Consider using a more specific path or pattern.)"
SEARCH_SKIP = frozenset(
    ".git .hg .svn node_modules __pycache__ .venv .mypy_cache .pytest_cache .ruff_cache .tox".split()
)
LIST_SKIP = SEARCH_SKIP | frozenset(
    "venv env .idea .vscode dist build target vendor .next .cache coverage .coverage "
    ".zig-cache zig-out obj".split()
)


def expand_braces(pattern: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [out for alt in match.group(1).split(",") for out in expand_braces(head + alt + tail)]


def compile_globs(patterns: list[str]) -> pathspec.GitIgnoreSpec:
    import pathspec  # with the first search, in the tool pool

    return pathspec.GitIgnoreSpec.from_lines([p for raw in patterns for p in expand_braces(raw)])


_GITIGNORE_MAX_BYTES = 1 << 20


def _load_gitignore(path: str) -> pathspec.GitIgnoreSpec | None:
    import pathspec

    try:
        data, _ = read_regular(Path(path), _GITIGNORE_MAX_BYTES)
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(data.decode("utf-8", "replace").splitlines())


def walk_files(
    root: Path, skip: frozenset[str], stop: threading.Event, ignore: pathspec.GitIgnoreSpec | None = None
) -> Iterator[Path]:
    """Files under `root` in sorted order, honouring .gitignore files found on the way."""
    scoped: dict[str, list[tuple[str, pathspec.GitIgnoreSpec]]] = {str(root): []}
    for dirpath, dirnames, filenames in os.walk(root):
        if stop.is_set():
            return
        specs = scoped.pop(dirpath, [])
        if ".gitignore" in filenames:
            spec = _load_gitignore(os.path.join(dirpath, ".gitignore"))
            if spec is not None:
                specs = [*specs, (dirpath, spec)]

        def ignored(name: str, is_dir: bool, dirpath: str = dirpath, specs: list[Any] = specs) -> bool:
            full = os.path.join(dirpath, name)
            suffix = "/" if is_dir else ""
            if ignore is not None and ignore.match_file(os.path.relpath(full, root) + suffix):
                return True
            return any(spec.match_file(os.path.relpath(full, base) + suffix) for base, spec in specs)

        dirnames[:] = sorted(d for d in dirnames if d not in skip and not ignored(d, True))
        for d in dirnames:
            scoped[os.path.join(dirpath, d)] = specs
        for name in sorted(filenames):
            if not ignored(name, False):
                yield Path(dirpath, name)


async def _search_root(ctx: ToolContext, raw: str | None) -> Path:
    root = await confined_path(ctx, raw or ".", "directory")
    if not root.exists():
        raise ToolError(f"Path not found: {root}")
    return root


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class GlobArgs(ToolArgs):
    pattern: NonBlank = Field(description="The glob pattern to match files against")
    path: str | None = Field(None, description="The directory to search in")


@tool("glob", read_only=True)
async def glob_tool(args: GlobArgs, ctx: ToolContext) -> ToolResult:
    """Finds files by name pattern, e.g. '**/*.py', 'src/**/*.{ts,tsx}' or '*.md' (a pattern without
    '/' matches at any depth).

    - Returns absolute paths, most recently modified first, at most 100.
    - 'path' is the directory to search (default: the project directory).
    - Skips .git, node_modules, virtualenvs and files ignored by .gitignore.
    - Use grep to search file contents.
    """
    pattern = args.pattern
    root = await _search_root(ctx, args.path)
    await ctx.ask("glob", [pattern], metadata={"pattern": pattern, "path": str(root)})
    if pattern.startswith(str(root) + os.sep):
        pattern = pattern[len(str(root)) + 1 :]  # an absolute pattern inside the root
    spec = compile_globs([pattern])

    def find(stop: threading.Event) -> list[Path]:
        hits = [
            p for p in walk_files(root, SEARCH_SKIP, stop) if spec.match_file(p.relative_to(root).as_posix())
        ]
        return sorted(hits, key=_mtime, reverse=True)

    hits = await ctx.pool.run(find)
    truncated = len(hits) > RESULT_CAP
    lines = [str(p) for p in hits[:RESULT_CAP]] or ["No files found"]
    if truncated:
        lines += ["", _TRUNCATED_NOTE]
    return ToolResult(
        output="\n".join(lines),
        title=display_path(ctx, root),
        metadata={"count": len(hits), "truncated": truncated},
    )


def _grep_file(path: Path, regex: re.Pattern[str], cap: int, stop: threading.Event) -> list[tuple[int, str]]:
    """Matching lines of a regular text file (each line searched as `read` shows it: cut at
    2000 characters); nothing for anything else."""
    try:
        with regular_file(path) as f:
            if looks_binary(path, f.read(8192)):
                return []
            f.seek(0)
            found: list[tuple[int, str]] = []
            for number, line in enumerate(read_lines(f, stop), 1):
                if regex.search(line):
                    found.append((number, line))
                    if len(found) >= cap:
                        break
            return found
    except OSError:
        return []


class GrepArgs(ToolArgs):
    pattern: str = Field(min_length=1, description="The regex pattern to search for")
    path: str | None = Field(None, description="The directory (or file) to search in")
    include: str | None = Field(None, description="File pattern to include, e.g. '*.py'")


@tool("grep", read_only=True)
async def grep_tool(args: GrepArgs, ctx: ToolContext) -> ToolResult:
    r"""Searches file contents with a regular expression (Python syntax, e.g. 'def \w+\(' or
    'TODO|FIXME').

    - 'include' restricts the files searched by glob, e.g. '*.py' or '*.{ts,tsx}'.
    - 'path' is a directory or file to search (default: the project directory).
    - Returns matching lines grouped by file, most recently modified files first, at most 100
    matches. Binary files, .git, node_modules and .gitignore'd files are skipped.
    - Use glob to find files by name.
    """
    pattern, include = args.pattern, args.include
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ToolError(f"Invalid regular expression {pattern!r}: {exc}") from exc
    root = await _search_root(ctx, args.path)
    await ctx.ask("grep", [pattern], metadata={"pattern": pattern, "path": str(root), "include": include})
    spec = compile_globs([include]) if include else None

    def search(stop: threading.Event) -> tuple[list[tuple[Path, list[tuple[int, str]]]], int]:
        files = [root] if root.is_file() else walk_files(root, SEARCH_SKIP, stop)
        groups: list[tuple[Path, list[tuple[int, str]]]] = []
        total = 0
        for path in files:
            if spec is not None and not spec.match_file(
                path.name if path == root else path.relative_to(root).as_posix()
            ):
                continue
            found = _grep_file(path, regex, _GREP_COLLECT_CAP - total, stop)
            if found:
                groups.append((path, found))
                total += len(found)
            if total >= _GREP_COLLECT_CAP or stop.is_set():
                break
        groups.sort(key=lambda g: _mtime(g[0]), reverse=True)
        return groups, total

    groups, total = await ctx.pool.run(search)
    if not groups:
        return ToolResult(output="No files found", title=pattern, metadata={"matches": 0, "truncated": False})
    out = [f"Found {total} matches"]
    shown = 0
    for path, found in groups:
        if shown >= RESULT_CAP:
            break
        out.append(f"{path}:")
        for number, text in found[: RESULT_CAP - shown]:
            out.append(f"  Line {number}: {text}")
            shown += 1
        out.append("")
    truncated = shown < total
    if truncated:
        out.append(_TRUNCATED_NOTE)
    return ToolResult(
        output="\n".join(out).rstrip("\n"),
        title=pattern,
        metadata={"matches": total, "truncated": truncated},
    )


class ListArgs(ToolArgs):
    path: str | None = Field(None, description="The directory to list")
    ignore: list[str] | None = Field(None, description="Glob patterns to ignore")


@tool("list", read_only=True)
async def list_tool(args: ListArgs, ctx: ToolContext) -> ToolResult:
    """Lists files and directories under a path as an indented tree.

    - 'path' is absolute or relative to the project directory (default: the project directory).
    - Skips .git, node_modules, __pycache__, virtualenvs, build output and .gitignore'd files;
    'ignore' adds glob patterns to skip (e.g. ['*.log', 'fixtures/']).
    - Shows at most 100 files; prefer glob and grep when you know what you look for.
    """
    root = await _search_root(ctx, args.path)
    if not root.is_dir():
        raise ToolError(f"Not a directory: {root}")
    await ctx.ask("list", [str(root)], metadata={"path": str(root)})
    spec = compile_globs(args.ignore) if args.ignore else None

    def collect(stop: threading.Event) -> tuple[list[Path], bool]:
        files: list[Path] = []
        for path in walk_files(root, LIST_SKIP, stop, spec):
            if len(files) >= RESULT_CAP:
                return files, True
            files.append(path.relative_to(root))
        return files, False

    files, truncated = await ctx.pool.run(collect)
    lines = [f"{root}/", *render_tree(files)]
    if truncated:
        lines += [
            "",
            f"(Showing the first {RESULT_CAP} files. Use a deeper path or 'ignore' to see the rest.)",
        ]
    return ToolResult(
        output="\n".join(lines) + "\n",
        title=display_path(ctx, root),
        metadata={"count": len(files), "truncated": truncated},
    )


def render_tree(files: list[Path]) -> list[str]:
    """Directories first, then files, each level indented two spaces deeper."""
    tree: dict[str, Any] = {}
    for rel in files:
        node = tree
        for part in rel.parts[:-1]:
            node = node.setdefault(part + "/", {})
        node[rel.parts[-1]] = None

    def render(node: dict[str, Any], depth: int) -> Iterator[str]:
        for name in sorted(node, key=lambda n: (node[n] is None, n)):
            yield "  " * depth + name
            if node[name] is not None:
                yield from render(node[name], depth + 1)

    return list(render(tree, 1))
