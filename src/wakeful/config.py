"""Server configuration: one object, built once at start-up from flags and the environment.

Nothing reads the environment at import time: `ServerConfig.build()` takes the environment as an
argument, so tests and embedders pass their own. A project's `opencode.json` is something else:
see `wakeful.projects`, loaded per directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def default_data_dir(env: Mapping[str, str]) -> Path:
    if env.get("WAKEFUL_DATA_DIR"):
        return Path(env["WAKEFUL_DATA_DIR"]).expanduser()
    xdg = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local" / "share")
    return Path(xdg) / "wakeful"


class ServerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hostname: str = "127.0.0.1"
    port: int = 4096
    data_dir: Path
    project_dir: Path = Field(default_factory=Path.cwd)
    password: str | None = None
    username: str = "opencode"
    cors_origins: tuple[str, ...] = ()
    insecure: bool = False

    # Long calls: one "\n" per interval keeps httpx's default 5 s read timeout alive with margin.
    keepalive_interval: float = 2.0
    keepalive_min: float = 0.05
    keepalive_max: float = 60.0

    # /event
    sse_heartbeat: float = 10.0
    event_replay: int = 10_000
    event_replay_bytes: int = 32 << 20
    subscriber_queue: int = 2_000

    # Runs
    provider_silence: float = 120.0
    retry_attempts: int = 5
    retry_base: float = 2.0
    retry_max_delay: float = 60.0
    run_deadline: float | None = None
    part_flush_interval: float = 0.5
    drain_timeout: float = 30.0
    llm_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    llm_max_connections: int = 10_000
    bash_timeout: float = 120.0

    # How long a project's opencode.json may be served from cache before its files are checked again.
    config_freshness: float = 1.0

    # Storage
    db_busy_timeout: float = 30.0
    db_readers: int = 4

    # The environment the server was started with: the source of `{env:VAR}` in opencode.json and of
    # OPENCODE_CONFIG / HOME / XDG_CONFIG_HOME for config discovery.
    environ: dict[str, str] = Field(default_factory=dict, repr=False)

    @property
    def is_loopback(self) -> bool:
        return self.hostname in ("127.0.0.1", "localhost", "::1") or self.hostname.startswith("127.")

    def clamp_keepalive(self, requested: float | None) -> float:
        if requested is None:
            return self.keepalive_interval
        return min(max(requested, self.keepalive_min), self.keepalive_max)

    @classmethod
    def build(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ServerConfig:
        """Flags (`overrides`, None meaning "not given") win over the environment."""
        environ = dict(os.environ if env is None else env)
        values: dict[str, Any] = {"environ": environ, "data_dir": default_data_dir(environ)}
        password = environ.get("WAKEFUL_SERVER_PASSWORD") or environ.get("OPENCODE_SERVER_PASSWORD")
        if password:
            values["password"] = password
        if environ.get("OPENCODE_SERVER_USERNAME"):
            values["username"] = environ["OPENCODE_SERVER_USERNAME"]
        # Every field can also come from WAKEFUL_<FIELD> (e.g. WAKEFUL_KEEPALIVE_INTERVAL=0.2).
        for name in cls.model_fields:
            raw = environ.get(f"WAKEFUL_{name.upper()}")
            if raw is None or name in ("environ", "password"):
                continue
            values[name] = tuple(o for o in raw.split(",") if o) if name == "cors_origins" else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
