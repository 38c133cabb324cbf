"""The typer app of every `wakeful` command but `serve`'s options (wakeful.cli.serve)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from wakeful.cli.serve import DESCRIPTION
from wakeful.cli.serve import main as serve_main

app = typer.Typer(add_completion=False, no_args_is_help=True, help="wakeful: a headless coding-agent server.")
session_app = typer.Typer(no_args_is_help=True, help="List, show and delete sessions.")
app.add_typer(session_app, name="session")
webhook_app = typer.Typer(no_args_is_help=True, help="Webhooks: the secret their signatures are made with.")
app.add_typer(webhook_app, name="webhook")


@app.callback()
def _root() -> None:
    """wakeful: an opencode-compatible, headless coding-agent server for long unattended runs."""


class OutputFormat(StrEnum):
    """What `--format` chooses from."""

    text = "text"
    json = "json"


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    help=f"{DESCRIPTION} (`wakeful serve --help` lists its options.)",
)
def serve(ctx: typer.Context) -> None:
    # `wakeful serve` itself never gets here (wakeful.cli.main parses it first); this lists it in
    # `wakeful --help` and serves an embedder that runs this typer app.
    serve_main(ctx.args)


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

