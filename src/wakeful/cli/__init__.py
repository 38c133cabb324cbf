"""The `wakeful` command line. `wakeful serve` is parsed by argparse (`wakeful.cli.serve`) without
loading typer and its help machinery (0.05 s of a server's start-up); every other command is typer's
(`wakeful.cli.commands`)."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        from wakeful.cli.serve import main as serve

        serve(sys.argv[2:])
    from wakeful.cli.commands import app

    app()
