"""Server configuration: one object, built once at start-up from flags and the environment.

`ServerConfig` is the one place where wakeful's defaults live: providers, the agent loop and the
tools get their numbers from it (see `wakeful.run.runtime`). Every field can come from
`WAKEFUL_<FIELD>` (e.g. `WAKEFUL_KEEPALIVE_INTERVAL=0.2`), read by pydantic-settings.

Nothing reads the environment at import time or behind the caller's back: `ServerConfig.build()`
takes the environment as an argument (tests and embedders pass their own), and the model reads
only the mapping in its own `environ` field, never `os.environ`. A project's `opencode.json` is
something else: see `wakeful.project.config`, loaded per directory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import re
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from wakeful.errors import StartupError

PREFIX = "WAKEFUL_"
# The URLs `database_url` takes: PostgreSQL as people write it (libpq), or as SQLAlchemy spells it.
DATABASE_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
# Fields whose values an error message never shows.
_SECRETS = {"password", "database_url", "webhook_secret"}

# What a webhook is sent for (docs/webhooks.md).
WebhookEvent = Literal["run.finished", "run.failed", "permission.asked"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = ("run.finished", "run.failed", "permission.asked")
AllowClass = Literal["loopback", "private", "public", "none"]
_ALLOW_CLASSES: tuple[AllowClass, ...] = ("loopback", "private", "public", "none")
_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def _allow_entry(value: object) -> object:
    """One entry of the webhook allow-list: a class of addresses, a network (an address is a /32 or
    /128), or a host name, exact or `*.` for every name under a domain."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if text in _ALLOW_CLASSES:
        return text
    with contextlib.suppress(ValueError):
        return ipaddress.ip_network(text)
    if _HOST_PATTERN.match(text):
        return text
    raise ValueError(
        f"{value!r} is none of loopback, private, public, none, an address or network "
        "(10.0.0.0/8), a host name (hooks.example.com, *.example.com)"
    )


WebhookAllow = Annotated[AllowClass | IPv4Network | IPv6Network | str, BeforeValidator(_allow_entry)]


def _home(env: Mapping[str, str]) -> Path:
    # the account's home when the given environment has no HOME: os.environ is not ours to read
    return Path(env.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir)


def _expand(path: str, env: Mapping[str, str]) -> Path:
    """`~` expanded against the given environment (Path.expanduser would read os.environ)."""
    if path == "~" or path.startswith("~/"):
        return _home(env) / path[2:]
    return Path(path)


def default_data_dir(env: Mapping[str, str]) -> Path:
    if env.get(f"{PREFIX}DATA_DIR"):
        return _expand(env[f"{PREFIX}DATA_DIR"], env)
    xdg = env.get("XDG_DATA_HOME")
    return (_expand(xdg, env) if xdg else _home(env) / ".local" / "share") / "wakeful"


# Fields read from other variables than WAKEFUL_<FIELD> (opencode's among them): the first set wins.
_OTHER_NAMES = {
    "password": ("WAKEFUL_SERVER_PASSWORD", "OPENCODE_SERVER_PASSWORD"),
    "username": ("WAKEFUL_USERNAME", "OPENCODE_SERVER_USERNAME"),
}


def _variable(field_name: str, environ: Mapping[str, str]) -> str:
    """The variable that gave a field its value, as the environment spells it."""
    names = _OTHER_NAMES.get(field_name) or (f"{PREFIX}{field_name.upper()}",)
    return next((k for n in names for k in environ if k.upper() == n), names[0])


class _GivenEnv(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of os.environ.

    Values are keyed by field name whatever variable they came from (pydantic aliases would key
    them by alias, and a flag given by field name would then meet them in validation instead of
    replacing them)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = environ  # read by _load_env_vars, which the base constructor calls
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {self._fold(k): v for k, v in self._given.items() if v or not self.env_ignore_empty}

    def _fold(self, name: str) -> str:
        return name if self.case_sensitive else name.lower()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name == "environ":  # the environment itself is never read from a variable
            return None, field_name, False
        if field_name not in _OTHER_NAMES:
            return super().get_field_value(field, field_name)
        values = (self.env_vars.get(self._fold(name)) for name in _OTHER_NAMES[field_name])
        return next((v for v in values if v is not None), None), field_name, False


class ServerConfig(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=PREFIX,
        env_ignore_empty=True,
    )

    hostname: str = "127.0.0.1"
    port: int = Field(default=4096, ge=0, le=65535)
    data_dir: Path  # default: $XDG_DATA_HOME/wakeful of `environ` (see _default_data_dir)
    project_dir: Path = Field(default_factory=Path.cwd)
    password: str | None = None  # from WAKEFUL_SERVER_PASSWORD or OPENCODE_SERVER_PASSWORD
    username: str = "opencode"  # from WAKEFUL_USERNAME or OPENCODE_SERVER_USERNAME
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    insecure: bool = False

    # What a request may be (docs/security.md). Host names accepted besides localhost, loopback
    # addresses and the address a request came in on; any Host when a password is set.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    header_max_bytes: int = Field(default=64 << 10, gt=0)  # the request line and headers
    body_max_bytes: int = Field(default=8 << 20, gt=0)
    prompt_parts_max: int = Field(default=256, gt=0)
    text_max_chars: int = Field(default=1_000_000, gt=0)  # a text part, `system`, a command or its arguments
    search_max_chars: int = Field(default=1_024, gt=0)  # GET /session?search=
    # Seconds a client has to send a request's head (from its first byte, or from connecting), then its
    # body; and to start another request on an idle keep-alive connection. A held call is never cut.
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=60.0, gt=0)
    idle_timeout: float = Field(default=30.0, gt=0)

    # Long calls: one "\n" per interval keeps httpx's default 5 s read timeout alive with margin.
    keepalive_interval: float = Field(default=2.0, gt=0)
    keepalive_min: float = Field(default=0.05, gt=0)
    keepalive_max: float = Field(default=60.0, gt=0)

    # /event
    sse_heartbeat: float = Field(default=10.0, gt=0)
    event_replay: int = Field(default=10_000, ge=0)
    event_replay_bytes: int = Field(default=32 << 20, ge=0)
    subscriber_queue: int = Field(default=2_000, gt=0)

    # Runs
    provider_silence: float = Field(default=120.0, gt=0)
    retry_attempts: int = Field(default=5, ge=0)
    retry_base: float = Field(default=2.0, ge=0)
    retry_max_delay: float = Field(default=60.0, ge=0)
    # A provider that refuses the connection is down or misconfigured, not busy: its retries stop
    # once this many seconds have passed since the first refusal.
    refused_retry_budget: float = Field(default=10.0, ge=0)
    run_deadline: float | None = Field(default=None, gt=0)
    part_flush_interval: float = Field(default=0.5, ge=0)
    drain_timeout: float = Field(default=30.0, ge=0)
    llm_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    llm_max_connections: int = Field(default=10_000, gt=0)
    # Admission (run/admission.py): runs executing at once (the rest wait, held with keep-alives),
    # runs started per second at most, and the accepted-but-unfinished runs above which a prompt
    # gets 503 with Retry-After (0: never).
    max_running_runs: int = Field(default=256, gt=0)
    run_start_rate: float = Field(default=100.0, gt=0)
    max_held_calls: int = Field(default=0, ge=0)
    # Sessions a server remembers for accepting prompts without a read (session/index.py).
    session_index_size: int = Field(default=10_000, ge=0)
    # Messages a server keeps of its sessions' ends, so that a prompt reads only what is new
    # (session/recent.py); 0 keeps none. Replicas keep none whatever this says.
    history_cache: int = Field(default=20_000, ge=0)

    # Webhooks (docs/webhooks.md): the signing secret (default: one kept in the data directory),
    # where per-call `callback` URLs may point, the server's own URL and its events, and delivery:
    # one attempt's time limit, the backoff of retries and for how long they go on.
    webhook_secret: str | None = Field(default=None, repr=False, min_length=16)
    webhook_allow: Annotated[tuple[WebhookAllow, ...], NoDecode] = ("loopback",)
    webhook_url: str | None = None
    webhook_events: Annotated[tuple[WebhookEvent, ...], NoDecode] = WEBHOOK_EVENTS
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_retry_base: float = Field(default=2.0, gt=0)
    webhook_retry_max_delay: float = Field(default=600.0, gt=0)
    webhook_retry_for: float = Field(default=86_400.0, gt=0)
    webhook_concurrency: int = Field(default=16, ge=1)  # deliveries in flight at once, per server

    # Permissions: how long a request that asks a person waits before it counts as rejected.
    permission_timeout: float = Field(default=900.0, gt=0)

    # Tools
    tool_threads: int = Field(default=16, ge=1)  # the pool that tools' blocking file work runs in
    bash_timeout: float = Field(default=120.0, gt=0)  # when the call gives none
    bash_max_timeout: float = Field(default=600.0, gt=0)  # whatever the call asks for
    tool_output_max_bytes: int = Field(default=50_000, gt=0)
    tool_output_max_lines: int = Field(default=2_000, gt=0)
    read_max_lines: int = Field(default=2_000, gt=0)
    # webfetch: what one call may take (the body beyond the size is not read; redirects count apart)
    webfetch_max_bytes: int = Field(default=5 << 20, ge=1)
    webfetch_timeout: float = Field(default=30.0, gt=0)  # when the call gives none
    webfetch_max_timeout: float = Field(default=120.0, gt=0)  # whatever the call asks for
    webfetch_max_redirects: int = Field(default=10, ge=0)

    # MCP servers (opencode.json's `mcp`): seconds to start or reach one, agree on the protocol and
    # list its tools; seconds each request (a tool call) may take when its entry gives no `timeout`;
    # seconds a local server has to exit once its stdin is closed before its process group is
    # killed; reconnections after a crash back off from `mcp_restart_base` up to `mcp_restart_max_delay`.
    mcp_startup_timeout: float = Field(default=30.0, gt=0)
    mcp_timeout: float = Field(default=60.0, gt=0)
    mcp_stop_grace: float = Field(default=1.0, ge=0)
    mcp_restart_base: float = Field(default=0.5, gt=0)
    mcp_restart_max_delay: float = Field(default=30.0, gt=0)

    # How long a project's opencode.json may be served from cache before its files are checked again.
    config_freshness: float = Field(default=1.0, ge=0)
    # git, asked by the UI routes (/vcs, /file/status, /session/{id}/diff): time and output limits.
    git_timeout: float = Field(default=5.0, gt=0)
    git_max_output: int = Field(default=8 << 20, gt=0)

    # Logs on stderr: text or one JSON object per line; one access-log line per request.
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True

    # Storage: SQLite in the data directory, unless a PostgreSQL URL is given (its password is kept
    # out of logs and errors). GET /global/ready answers 503 when a read takes longer than
    # ready_timeout.
    database_url: str | None = Field(default=None, repr=False)
    # How long a statement waits for a lock or a connection.
    db_busy_timeout: float = Field(default=30.0, ge=0)
    db_readers: int = Field(default=4, gt=0)  # SQLite's reader connections
    db_pool_size: int = Field(default=10, gt=0)  # PostgreSQL's connections, per server
    ready_timeout: float = Field(default=2.0, gt=0)

    # Replicas (several servers on one PostgreSQL database, docs/deploy.md): the server running a
    # run renews its lease every third of `lease_seconds`; a lease not renewed for that long lets
    # another server take the run over. Resuming a run whose server stopped (on this server's next
    # start, or on another replica) is on by default with PostgreSQL, off with SQLite (the run then
    # ends with an "interrupted" error); a run is resumed at most `max_resumes` times.
    lease_seconds: float = Field(default=10.0, gt=0)
    resume_interrupted: bool | None = None
    max_resumes: int = Field(default=3, ge=0)
    # How long the replicas' mailbox keeps what they told each other, for one that lost its
    # connection to the database for a while.
    mailbox_retention: float = Field(default=300.0, gt=0)

    # The environment the server was started with: the source of every WAKEFUL_* value, of
    # `{env:VAR}` in opencode.json and of OPENCODE_CONFIG / HOME / XDG_CONFIG_HOME for config discovery.
    environ: dict[str, str] = Field(default_factory=dict, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _default_data_dir(cls, data: Any) -> Any:
        if isinstance(data, dict):
            env = data.get("environ") or {}
            raw = data.get("data_dir")
            if not raw:
                data["data_dir"] = default_data_dir(env)
            elif isinstance(raw, str):
                data["data_dir"] = _expand(raw, env)
        return data

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in DATABASE_SCHEMES:
            raise ValueError("must be a PostgreSQL URL: postgresql://user:password@host:port/database")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        parts = urlsplit(value or "")
        if value is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("cors_origins", "allowed_hosts", "webhook_allow", "webhook_events", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip() for o in value.split(",") if o.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments first, then the `environ` argument as the environment; never os.environ,
        # never a .env file or a secrets directory.
        assert isinstance(init_settings, InitSettingsSource)
        environ = init_settings.init_kwargs.get("environ") or {}
        return init_settings, _GivenEnv(settings_cls, environ)

    @property
    def resumes_runs(self) -> bool:
        """Whether a run whose server stopped is resumed (see `resume_interrupted`)."""
        if self.resume_interrupted is None:
            return self.database_url is not None
        return self.resume_interrupted

    @property
    def is_loopback(self) -> bool:
        return self.hostname in ("127.0.0.1", "localhost", "::1") or self.hostname.startswith("127.")

    def clamp_keepalive(self, requested: float | None) -> float:
        if requested is None:
            return self.keepalive_interval
        return min(max(requested, self.keepalive_min), self.keepalive_max)

    @classmethod
    def build(cls, env: Mapping[str, str] | None = None, **flags: Any) -> ServerConfig:
        """The config of `env` (None: os.environ, read here and only here) and `flags`, which win
        over the environment; a flag of None means "not given". A bad value raises StartupError
        naming the flag or variable it came from."""
        environ = dict(os.environ if env is None else env)
        given = {k: v for k, v in flags.items() if v is not None}
        try:
            return cls(**given, environ=environ)
        except ValidationError as exc:
            raise StartupError(_explain(exc, given, environ)) from None


def _explain(exc: ValidationError, flags: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        if field in flags:
            where = field if field in _SECRETS else f"{field}={flags[field]!r}"
        elif field in ServerConfig.model_fields:
            name = _variable(field, environ)
            where = name if field in _SECRETS else f"{name}={environ.get(name, '')!r}"
        else:
            where = field
        lines.append(f"{where}: {error['msg']}")
    return "invalid configuration: " + "; ".join(lines)
