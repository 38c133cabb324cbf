"""`wakeful serve`: its options, and the server run until SIGTERM or Ctrl-C.

Parsed with argparse, not typer: typer, its click and the conversion of every command's signature
cost a twentieth of a second of start-up, before the first healthy answer.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

DESCRIPTION = "Run the server until SIGTERM or Ctrl-C."


def parser() -> argparse.ArgumentParser:
    """The options; a flag left out is None ("not given": the environment or the default applies)."""
    parse = argparse.ArgumentParser(prog="wakeful serve", description=DESCRIPTION, allow_abbrev=False)
    add = parse.add_argument
    add("--hostname", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    add("--port", type=int, default=4096, help="Port; 0 picks a free one (default 4096).")
    add("--data-dir", type=Path, help="Where the SQLite database and the lock live (default $WAKEFUL_DATA_DIR or XDG).")
    add(
        "--keepalive-interval",
        type=float,
        help="Seconds between keep-alive bytes on long calls (env WAKEFUL_KEEPALIVE_INTERVAL).",
    )
    add("--drain-timeout", type=float, help="Seconds running runs get to finish on SIGTERM.")
    add("--run-deadline", type=float, help="Seconds after which a run is stopped (default none).")
    add("--provider-silence", type=float, help="Seconds a provider may stay silent.")
    add(
        "--permission-timeout",
        type=float,
        help="Seconds a permission request waits for an answer before it is rejected "
        "(default 900; env WAKEFUL_PERMISSION_TIMEOUT).",
    )
    add(
        "--max-running-runs",
        type=int,
        help="Runs executing at once; the rest wait, held with keep-alives (default 256).",
    )
    add(
        "--max-held-calls",
        type=int,
        help="Unfinished runs above which a prompt gets 503 with Retry-After (default 0: never).",
    )
    add("--cors", action="append", help="Allow this browser origin (repeatable).")
    add(
        "--allowed-host",
        action="append",
        help="Also answer requests whose Host is this name (repeatable; env WAKEFUL_ALLOWED_HOSTS). "
        "localhost and the server's own addresses always are; with a password, any Host is.",
    )
    add(
        "--insecure",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="Allow a non-loopback address without a password.",
    )
    add(
        "--database-url",
        help="Store in PostgreSQL: postgresql://user:password@host:port/db (env WAKEFUL_DATABASE_URL); "
        "default SQLite in the data directory.",
    )
    add(
        "--webhook-secret",
        help="Sign webhooks with this secret (env WAKEFUL_WEBHOOK_SECRET); default: one made and kept "
        "in the data directory (`wakeful webhook secret` prints it).",
    )
    add(
        "--webhook-allow",
        action="append",
        help="Where ?callback= URLs may point (repeatable; env WAKEFUL_WEBHOOK_ALLOW, comma-separated): "
        "loopback, private, public, none, a network (10.0.0.0/8) or a host name (*.example.com). "
        "Default loopback.",
    )
    add("--webhook-url", help="Post the events of every run to this URL (env WAKEFUL_WEBHOOK_URL).")
    add(
        "--webhook-event",
        action="append",
        help="An event --webhook-url gets (repeatable): run.finished, run.failed, permission.asked. "
        "Default all.",
    )
    add(
        "--lease-seconds",
        type=float,
        help="With PostgreSQL: seconds after which another server takes over the run of a server "
        "that stopped renewing its lease (default 10; env WAKEFUL_LEASE_SECONDS).",
    )
    add(
        "--resume-interrupted",
        action=argparse.BooleanOptionalAction,
        help="Resume a run whose server stopped, from its last stored step (default: on with "
        "PostgreSQL, off with SQLite; env WAKEFUL_RESUME_INTERRUPTED).",
    )
    add(
        "--log-format",
        choices=("text", "json"),
        help="Log lines on stderr: text or json (env WAKEFUL_LOG_FORMAT).",
    )
    return parse


def main(argv: list[str]) -> NoReturn:
    opts = parser().parse_args(argv)
    # What start-up allocates (modules, models, routes: ~300,000 objects) lives as long as the
    # server: collecting meanwhile is wasted time. `serve.tune_gc` collects once and turns it on.
    gc.disable()
    from wakeful.config import ServerConfig
    from wakeful.errors import StartupError
    from wakeful.server.serve import serve

    try:
        config = ServerConfig.build(
            hostname=opts.hostname,
            port=opts.port,
            data_dir=opts.data_dir,
            keepalive_interval=opts.keepalive_interval,
            drain_timeout=opts.drain_timeout,
            run_deadline=opts.run_deadline,
            provider_silence=opts.provider_silence,
            permission_timeout=opts.permission_timeout,
            max_running_runs=opts.max_running_runs,
            max_held_calls=opts.max_held_calls,
            cors_origins=tuple(opts.cors) if opts.cors else None,
            allowed_hosts=tuple(opts.allowed_host) if opts.allowed_host else None,
            insecure=opts.insecure,
            database_url=opts.database_url,
            webhook_secret=opts.webhook_secret,
            webhook_allow=tuple(opts.webhook_allow) if opts.webhook_allow else None,
            webhook_url=opts.webhook_url,
            webhook_events=tuple(opts.webhook_event) if opts.webhook_event else None,
            lease_seconds=opts.lease_seconds,
            resume_interrupted=opts.resume_interrupted,
            log_format=opts.log_format,
        )
    except StartupError as exc:
        print(f"wakeful: {exc}", file=sys.stderr)
        sys.exit(2)
    code = serve(config)
    # Everything is closed by now; skipping interpreter teardown (a second or more with the SDKs
    # loaded) keeps SIGTERM-to-exit within the drain time.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
