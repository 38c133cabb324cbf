"""The `wakeful` command line."""

from __future__ import annotations

import gc
import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="wakeful: a headless coding-agent server.")
session_app = typer.Typer(no_args_is_help=True, help="List, show and delete sessions.")
app.add_typer(session_app, name="session")
webhook_app = typer.Typer(no_args_is_help=True, help="Webhooks: the secret their signatures are made with.")
app.add_typer(webhook_app, name="webhook")


@app.callback()
def _root() -> None:
    """wakeful: an opencode-compatible, headless coding-agent server for long unattended runs."""


class OutputFormat(StrEnum):
    """What `--format` and `--log-format` choose from."""

    text = "text"
    json = "json"


@app.command()
def serve(
    hostname: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 4096,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the SQLite database and the lock live (default $WAKEFUL_DATA_DIR or XDG)."),
    ] = None,
    keepalive_interval: Annotated[
        float | None,
        typer.Option(help="Seconds between keep-alive bytes on long calls (env WAKEFUL_KEEPALIVE_INTERVAL)."),
    ] = None,
    drain_timeout: Annotated[
        float | None, typer.Option(help="Seconds running runs get to finish on SIGTERM.")
    ] = None,
    run_deadline: Annotated[
        float | None, typer.Option(help="Seconds after which a run is stopped (default none).")
    ] = None,
    provider_silence: Annotated[
        float | None, typer.Option(help="Seconds a provider may stay silent.")
    ] = None,
    permission_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds a permission request waits for an answer before it is rejected "
            "(default 900; env WAKEFUL_PERMISSION_TIMEOUT)."
        ),
    ] = None,
    max_running_runs: Annotated[
        int | None,
        typer.Option(help="Runs executing at once; the rest wait, held with keep-alives (default 256)."),
    ] = None,
    max_held_calls: Annotated[
        int | None,
        typer.Option(help="Unfinished runs above which a prompt gets 503 with Retry-After (default 0: never)."),
    ] = None,
    cors: Annotated[list[str] | None, typer.Option(help="Allow this browser origin (repeatable).")] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Also answer requests whose Host is this name (repeatable; env WAKEFUL_ALLOWED_HOSTS). "
            "localhost and the server's own addresses always are; with a password, any Host is."
        ),
    ] = None,
    insecure: Annotated[bool, typer.Option(help="Allow a non-loopback address without a password.")] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Store in PostgreSQL: postgresql://user:password@host:port/db (env WAKEFUL_DATABASE_URL); "
            "default SQLite in the data directory.",
            show_default=False,
        ),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            help="Sign webhooks with this secret (env WAKEFUL_WEBHOOK_SECRET); default: one made and kept "
            "in the data directory (`wakeful webhook secret` prints it).",
            show_default=False,
        ),
    ] = None,
    webhook_allow: Annotated[
        list[str] | None,
        typer.Option(
            help="Where ?callback= URLs may point (repeatable; env WAKEFUL_WEBHOOK_ALLOW, comma-separated): "
            "loopback, private, public, none, a network (10.0.0.0/8) or a host name (*.example.com). "
            "Default loopback.",
            show_default=False,
        ),
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="Post the events of every run to this URL (env WAKEFUL_WEBHOOK_URL).", show_default=False
        ),
    ] = None,
    webhook_event: Annotated[
        list[str] | None,
        typer.Option(
            help="An event --webhook-url gets (repeatable): run.finished, run.failed, permission.asked. "
            "Default all.",
            show_default=False,
        ),
    ] = None,
    lease_seconds: Annotated[
        float | None,
        typer.Option(
            help="With PostgreSQL: seconds after which another server takes over the run of a server "
            "that stopped renewing its lease (default 10; env WAKEFUL_LEASE_SECONDS)."
        ),
    ] = None,
    resume_interrupted: Annotated[
        bool | None,
        typer.Option(
            "--resume-interrupted/--no-resume-interrupted",
            help="Resume a run whose server stopped, from its last stored step (default: on with "
            "PostgreSQL, off with SQLite; env WAKEFUL_RESUME_INTERRUPTED).",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        OutputFormat | None, typer.Option(help="Log lines on stderr: text or json (env WAKEFUL_LOG_FORMAT).")
    ] = None,
) -> None:
    """Run the server until SIGTERM or Ctrl-C."""
    # What start-up allocates (modules, models, routes: ~300,000 objects) lives as long as the
    # server: collecting meanwhile is wasted time. `serve.tune_gc` collects once and turns it on.
    gc.disable()
    from wakeful.config import ServerConfig
    from wakeful.errors import StartupError
    from wakeful.server.serve import serve as run_server

    try:
        config = ServerConfig.build(
            hostname=hostname,
            port=port,
            data_dir=data_dir,
            keepalive_interval=keepalive_interval,
            drain_timeout=drain_timeout,
            run_deadline=run_deadline,
            provider_silence=provider_silence,
            permission_timeout=permission_timeout,
            max_running_runs=max_running_runs,
            max_held_calls=max_held_calls,
            cors_origins=tuple(cors) if cors else None,
            allowed_hosts=tuple(allowed_host) if allowed_host else None,
            insecure=insecure,
            database_url=database_url,
            webhook_secret=webhook_secret,
            webhook_allow=tuple(webhook_allow) if webhook_allow else None,
            webhook_url=webhook_url,
            webhook_events=tuple(webhook_event) if webhook_event else None,
            lease_seconds=lease_seconds,
            resume_interrupted=resume_interrupted,
            log_format=log_format.value if log_format else None,
        )
    except StartupError as exc:
        typer.echo(f"wakeful: {exc}", err=True)
        raise typer.Exit(2) from None
    code = run_server(config)
    # Everything is closed by now; skipping interpreter teardown (a second or more with the SDKs
    # loaded) keeps SIGTERM-to-exit within the drain time.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# --- the client commands: their bodies live in wakeful.cli.*, imported when they run -------


Url = Annotated[
    str | None,
    typer.Option(help="Server URL; default: the server of the data directory, else one started on it."),
]
DataDir = Annotated[
    Path | None, typer.Option(help="Data directory whose server to use (default $WAKEFUL_DATA_DIR or XDG).")
]
Format = Annotated[OutputFormat, typer.Option("--format", help="text, or json (one document per line).")]
SessionOpt = Annotated[
    str | None, typer.Option("--session", help="Continue this session (default: a new one).")
]
Model = Annotated[str | None, typer.Option(help="provider/model")]


@app.command()
def run(
    prompt: Annotated[str, typer.Argument(help="What to ask the agent.")],
    session: SessionOpt = None,
    model: Model = None,
    agent: Annotated[str | None, typer.Option(help="Agent (default: the project's default agent).")] = None,
    url: Url = None,
    output_format: Format = OutputFormat.text,
    data_dir: DataDir = None,
) -> None:
    """Run the agent on a prompt, show it live, print the answer. Ctrl-C aborts the run."""
    from wakeful.cli.run import RunOrder
    from wakeful.cli.run import run as run_order
    from wakeful.cli.target import Target

    order = RunOrder("prompt", prompt, session, model, agent, output_format.value)
    raise typer.Exit(run_order(order, Target(url, data_dir)))


@app.command()
def shell(
    command: Annotated[str, typer.Argument(help="The shell command to run in the session.")],
    session: SessionOpt = None,
    agent: Annotated[str, typer.Option(help="Agent the command runs as.")] = "build",
    model: Model = None,
    url: Url = None,
    output_format: Format = OutputFormat.text,
    data_dir: DataDir = None,
) -> None:
    """Run one shell command in a session (without the model); exits with its exit code."""
    from wakeful.cli.run import RunOrder
    from wakeful.cli.run import run as run_order
    from wakeful.cli.target import Target

    order = RunOrder("shell", command, session, model, agent, output_format.value)
    raise typer.Exit(run_order(order, Target(url, data_dir)))


@session_app.command("list")
def session_list(
    limit: Annotated[int | None, typer.Option(help="At most this many (newest first).")] = None,
    url: Url = None,
    output_format: Format = OutputFormat.text,
    data_dir: DataDir = None,
) -> None:
    """List the project's sessions, newest first."""
    from wakeful.cli.sessions import list_sessions
    from wakeful.cli.target import Target

    raise typer.Exit(list_sessions(Target(url, data_dir), output_format.value, limit))


@session_app.command("show")
def session_show(
    session_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = None,
    output_format: Format = OutputFormat.text,
    data_dir: DataDir = None,
) -> None:
    """Show a session and its messages."""
    from wakeful.cli.sessions import show_session
    from wakeful.cli.target import Target

    raise typer.Exit(show_session(Target(url, data_dir), output_format.value, session_id))


@session_app.command("delete")
def session_delete(
    session_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = None,
    output_format: Format = OutputFormat.text,
    data_dir: DataDir = None,
) -> None:
    """Delete a session (a running run in it is aborted first)."""
    from wakeful.cli.sessions import delete_session
    from wakeful.cli.target import Target

    raise typer.Exit(delete_session(Target(url, data_dir), output_format.value, session_id))


@webhook_app.command("secret")
def webhook_secret_command(data_dir: DataDir = None) -> None:
    """Print the secret webhooks are signed with: WAKEFUL_WEBHOOK_SECRET if set, else the data
    directory's (made now if there is none yet)."""
    from wakeful.config import ServerConfig
    from wakeful.errors import StartupError
    from wakeful.run.webhooks.signing import load_secret

    try:
        typer.echo(load_secret(ServerConfig.build(data_dir=data_dir)))
    except (StartupError, OSError) as exc:
        typer.echo(f"wakeful: {exc}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
