"""A project's opencode configuration (`opencode.json` / `opencode.jsonc`), loaded per directory.

Merged like the reference, later sources winning: the global files in `$XDG_CONFIG_HOME/opencode/`
(default `~/.config/opencode/`: `config.json`, `opencode.json`, `opencode.jsonc`), then the file
named by `OPENCODE_CONFIG`, then the project's own files (`opencode.jsonc` then `opencode.json`, from
the git worktree's root down to the directory, then `.opencode/opencode.json[c]` in the directory),
then the JSON in `OPENCODE_CONFIG_CONTENT`. Objects merge key by key; anything else is replaced.
`{env:VAR}` is substituted from the server's environment and `{file:path}` from a file. Results are
cached per directory and reloaded when a file appears, changes or goes away.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any, Generic, TypeVar

import json5

from wakeful.errors import InvalidRequestError
from wakeful.project.files import read_regular

_NAMES = ("opencode.json", "opencode.jsonc")
_ENV = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE = re.compile(r"\{file:([^}]+)\}")
MAX_CONFIG_BYTES = 4 << 20  # a config file, or a file it includes with {file:...}


def _read_text(path: Path) -> str:
    data, more = read_regular(path, MAX_CONFIG_BYTES)
    if more:
        raise OSError(f"larger than {MAX_CONFIG_BYTES} bytes")
    return data.decode("utf-8")


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class ProjectConfig:
    directory: Path
    data: dict[str, Any]
    sources: tuple[Path, ...]  # the files that were found and merged
    searched: tuple[Path, ...] = ()  # every file looked for, lowest precedence first
    home: str | None = None  # what `~` and `$HOME` stand for in permission patterns

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}


def home_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME", str(Path.home())))


def global_config_dir(environ: Mapping[str, str]) -> Path:
    """`$XDG_CONFIG_HOME/opencode`, by default `~/.config/opencode`: the global config files and the
    global AGENTS.md live there."""
    return Path(environ.get("XDG_CONFIG_HOME") or home_dir(environ) / ".config") / "opencode"


def project_chain(directory: Path) -> list[Path]:
    """The directories whose config files apply, root-most first: from the git worktree root (the
    nearest ancestor holding `.git`) down to `directory`; just `directory` outside a worktree."""
    chain = [directory]
    for parent in directory.parents:
        if (chain[-1] / ".git").exists():
            break
        chain.append(parent)
    else:
        if not (chain[-1] / ".git").exists():
            chain = [directory]
    return list(reversed(chain))


T = TypeVar("T")


class Derived(Generic[T]):
    """What is derived from immutable objects (a ProjectConfig never changes: a changed file makes a
    new one), kept for the `size` latest seen and found again by their identity; shared by every
    caller, so never change one."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._kept: dict[tuple[int, ...], tuple[tuple[object, ...], T]] = {}

    def get(self, sources: tuple[object, ...], build: Callable[[], T]) -> T:
        key = tuple(map(id, sources))
        kept = self._kept.get(key)
        if kept is not None and all(a is b for a, b in zip(kept[0], sources, strict=True)):
            return kept[1]
        value = build()
        if len(self._kept) >= self._size:
            self._kept.pop(next(iter(self._kept)))
        self._kept[key] = (sources, value)
        return value


class ProjectConfigs:
    def __init__(self, environ: Mapping[str, str], freshness: float = 0.0) -> None:
        self.environ = environ
        self.freshness = freshness
        self._cache: dict[Path, tuple[tuple[tuple[Path, int, int], ...], ProjectConfig]] = {}
        self._checked: dict[Path, float] = {}  # when each directory's files were last stat()ed

    @property
    def home(self) -> Path:
        return home_dir(self.environ)

    @property
    def global_dir(self) -> Path:
        return global_config_dir(self.environ)

    def candidates(self, directory: Path) -> list[Path]:
        """Every file that may contribute, lowest precedence first."""
        paths = [self.global_dir / name for name in ("config.json", *_NAMES)]
        if self.environ.get("OPENCODE_CONFIG"):
            paths.append(Path(self.environ["OPENCODE_CONFIG"]).expanduser())
        # like the reference's findUp: every opencode.jsonc first (root-most first), then every
        # opencode.json, so that a .json wins over a .jsonc and a nearer file over a farther one
        chain = project_chain(directory)
        for name in ("opencode.jsonc", "opencode.json"):
            paths += [d / name for d in chain]
        paths += [directory / ".opencode" / name for name in ("opencode.jsonc", "opencode.json")]
        return paths

    def load(self, directory: Path) -> ProjectConfig:
        # Files are checked for changes at most once per `freshness` seconds: a burst of calls must
        # not each walk and stat the whole project chain.
        cached = self._cache.get(directory)
        now = time.monotonic()
        if cached and now - self._checked.get(directory, 0.0) < self.freshness:
            return cached[1]
        self._checked[directory] = now
        present: list[tuple[Path, int, int]] = []
        searched = self.candidates(directory)
        for path in searched:
            try:
                stat = path.stat()
            except OSError:
                continue
            if S_ISREG(stat.st_mode):
                present.append((path, stat.st_mtime_ns, stat.st_size))
        fingerprint = tuple(present)
        if cached and cached[0] == fingerprint:
            return cached[1]
        data: dict[str, Any] = {}
        for path, _, _ in present:
            data = merge(data, self._read(path))
        inline = self.environ.get("OPENCODE_CONFIG_CONTENT")
        if inline:
            data = merge(data, self._parse(self._env(inline), "OPENCODE_CONFIG_CONTENT"))
        config = ProjectConfig(
            directory, data, tuple(p for p, _, _ in present), tuple(searched), str(self.home)
        )
        self._cache[directory] = (fingerprint, config)
        return config

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            text = _read_text(path)
        except OSError as exc:
            raise InvalidRequestError(f"cannot read config {path}: {exc}") from exc

        def file_sub(match: re.Match[str]) -> str:
            target = Path(match.group(1)).expanduser()
            target = target if target.is_absolute() else path.parent / target
            try:
                content = _read_text(target).strip()
            except OSError:
                return ""
            return str(json5.dumps(content))[1:-1]

        return self._parse(_FILE.sub(file_sub, self._env(text)), str(path))

    def _env(self, text: str) -> str:
        return _ENV.sub(lambda m: self.environ.get(m.group(1), ""), text)

    @staticmethod
    def _parse(text: str, where: str) -> dict[str, Any]:
        try:
            value = json5.loads(text)
        except ValueError as exc:
            raise InvalidRequestError(f"invalid config {where}: {exc}") from exc
        if not isinstance(value, dict):
            raise InvalidRequestError(f"invalid config {where}: not an object")
        return value
