"""The MCP servers a project configures: opencode.json's `mcp` section (its `{env:VAR}` already
substituted by `wakeful.project.config`), one entry per server name."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from wakeful.project.config import ProjectConfig
from wakeful.wire.mcp import McpConfig, McpLocalConfig, McpRemoteConfig, MCPStatus

_ENTRY: TypeAdapter[McpLocalConfig | McpRemoteConfig] = TypeAdapter(McpConfig)
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def sanitize(name: str) -> str:
    """A server's or tool's name as the reference puts it in a tool name: anything but letters,
    digits, `_` and `-` becomes `_`."""
    return _UNSAFE.sub("_", name)


@dataclass(frozen=True)
class ServerSpec:
    """One server as a project configures it. `directory` is the project's: a local server runs
    there, or in its `cwd` taken relative to it."""

    name: str
    config: McpLocalConfig | McpRemoteConfig
    directory: Path

    @property
    def enabled(self) -> bool:
        return self.config.enabled is not False

    @property
    def cwd(self) -> Path:
        if isinstance(self.config, McpLocalConfig) and self.config.cwd:
            cwd = Path(self.config.cwd).expanduser()
            return cwd if cwd.is_absolute() else self.directory / cwd
        return self.directory

    @property
    def key(self) -> str:
        """What makes two projects' servers one: the same name and entry, and for a local server the
        same working directory. Projects with equal keys share one connection (and one process)."""
        where = str(self.cwd) if isinstance(self.config, McpLocalConfig) else None
        return json.dumps([self.name, self.config.wire(), where], sort_keys=True)

    def timeout(self, default: float) -> float:
        """Seconds each request may take: the entry's `timeout` (milliseconds), else `default`."""
        return self.config.timeout / 1000 if self.config.timeout else default


def parse_entry(name: str, raw: object, directory: Path) -> ServerSpec | MCPStatus:
    """The spec of one `mcp` entry, or a `failed` status saying what is wrong with it."""
    try:
        return ServerSpec(name, _ENTRY.validate_python(raw), directory)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'the entry'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        return MCPStatus(status="failed", error=f"invalid config mcp.{name}: {problems}")


def configured(project: ProjectConfig) -> dict[str, ServerSpec | MCPStatus]:
    """Every server under the project's `mcp`, by name, in the config's order."""
    return {name: parse_entry(name, raw, project.directory) for name, raw in project.section("mcp").items()}
