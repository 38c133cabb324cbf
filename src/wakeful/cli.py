"""The `wakeful` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="wakeful: a headless coding-agent server.")


@app.callback()
def _root() -> None:
    """wakeful: an opencode-compatible, headless coding-agent server for long unattended runs."""


@app.command()
def serve(
    hostname: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 4096,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the database lives (default $WAKEFUL_DATA_DIR or XDG).")
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
    cors: Annotated[list[str] | None, typer.Option(help="Allow this browser origin (repeatable).")] = None,
    insecure: Annotated[bool, typer.Option(help="Allow a non-loopback address without a password.")] = False,
) -> None:
    """Run the server until SIGTERM or Ctrl-C."""
    from wakeful.config import ServerConfig
    from wakeful.serve import serve as run_server

    config = ServerConfig.build(
        hostname=hostname,
        port=port,
        data_dir=data_dir,
        keepalive_interval=keepalive_interval,
        drain_timeout=drain_timeout,
        run_deadline=run_deadline,
        provider_silence=provider_silence,
        cors_origins=tuple(cors) if cors else None,
        insecure=insecure,
    )
    raise typer.Exit(run_server(config))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
