"""A project's opencode configuration (`opencode.json` / `opencode.jsonc`), loaded per directory.

Merged like the reference, later sources winning: the global file in `$XDG_CONFIG_HOME/opencode/`
(default `~/.config/opencode/`), then the file named by `OPENCODE_CONFIG`, then the project's own
files (`opencode.json[c]` and `.opencode/opencode.json[c]` in the directory). Objects merge key by
key; anything else is replaced. `{env:VAR}` is substituted from the server's environment and
`{file:path}` from a file. Results are cached per directory and reloaded when a file changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import json5

from wakeful.errors import InvalidRequestError

_NAMES = ("opencode.json", "opencode.jsonc")
_ENV = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE = re.compile(r"\{file:([^}]+)\}")


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
    sources: tuple[Path, ...]

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}


class ProjectConfigs:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self._cache: dict[Path, tuple[tuple[tuple[Path, float], ...], ProjectConfig]] = {}

    def candidates(self, directory: Path) -> list[Path]:
        home = Path(self.environ.get("HOME", str(Path.home())))
        xdg = Path(self.environ.get("XDG_CONFIG_HOME") or home / ".config")
        paths = [xdg / "opencode" / name for name in (*_NAMES, "config.json")]
        if self.environ.get("OPENCODE_CONFIG"):
            paths.append(Path(self.environ["OPENCODE_CONFIG"]).expanduser())
        paths += [directory / name for name in _NAMES]
        paths += [directory / ".opencode" / name for name in _NAMES]
        return paths

    def load(self, directory: Path) -> ProjectConfig:
        present = []
        for path in self.candidates(directory):
            try:
                present.append((path, path.stat().st_mtime))
            except OSError:
                continue
        fingerprint = tuple(present)
        cached = self._cache.get(directory)
        if cached and cached[0] == fingerprint:
            return cached[1]
        data: dict[str, Any] = {}
        for path, _ in present:
            data = merge(data, self._read(path))
        config = ProjectConfig(directory, data, tuple(p for p, _ in present))
        self._cache[directory] = (fingerprint, config)
        return config

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidRequestError(f"cannot read config {path}: {exc}") from exc

        def file_sub(match: re.Match[str]) -> str:
            target = Path(match.group(1)).expanduser()
            target = target if target.is_absolute() else path.parent / target
            try:
                content = target.read_text(encoding="utf-8").strip()
            except OSError:
                return ""
            return json5.dumps(content)[1:-1]

        text = _ENV.sub(lambda m: self.environ.get(m.group(1), ""), text)
        text = _FILE.sub(file_sub, text)
        try:
            value = json5.loads(text)
        except ValueError as exc:
            raise InvalidRequestError(f"invalid config {path}: {exc}") from exc
        if not isinstance(value, dict):
            raise InvalidRequestError(f"invalid config {path}: not an object")
        return value
