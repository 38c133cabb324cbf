"""Which server a command talks to, and as whom."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wakeful.cli.local import LocalServer
from wakeful.config import default_data_dir


@dataclass(frozen=True)
class Target:
    url: str | None = None
    data_dir: Path | None = None

    @contextmanager
    def open(self, env: Mapping[str, str] | None = None) -> Iterator[str]:
        """The server URL: `--url`, else the server holding the data directory, else a server
        started on it for as long as the command runs."""
        if self.url:
            yield self.url
            return
        environ = os.environ if env is None else env
        with LocalServer(self.data_dir or default_data_dir(environ), project_dir=Path.cwd()) as url:
            yield url


def client_options(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Credentials from the environment (the variables the server reads), and the current
    directory as the project, so that a server started elsewhere works on this one."""
    environ = os.environ if env is None else env
    return {
        "password": environ.get("WAKEFUL_SERVER_PASSWORD") or environ.get("OPENCODE_SERVER_PASSWORD") or None,
        "username": environ.get("OPENCODE_SERVER_USERNAME") or "opencode",
        "directory": os.getcwd(),
    }
