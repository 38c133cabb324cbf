"""`wakeful serve`'s options, parsed without typer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wakeful.cli.serve import parser


def test_the_serve_command_loads_neither_typer_nor_its_help_machinery() -> None:
    script = (
        "import sys\nimport wakeful.cli\nsys.argv = ['wakeful', 'serve', '--help']\n"
        "try:\n    wakeful.cli.main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('typer', 'rich') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "--keepalive-interval" in out
    assert out.strip().splitlines()[-1] == "[]"


def test_a_flag_left_out_is_not_given_and_repeatable_flags_add_up() -> None:
    opts = parser().parse_args([])
    assert (opts.hostname, opts.port, opts.insecure) == ("127.0.0.1", 4096, False)
    assert opts.keepalive_interval is None and opts.resume_interrupted is None and opts.cors is None
    opts = parser().parse_args(
        ["--data-dir", "d", "--cors", "http://a", "--cors", "http://b", "--no-resume-interrupted", "--insecure"]
    )
    assert opts.data_dir == Path("d")
    assert opts.cors == ["http://a", "http://b"]
    assert (opts.resume_interrupted, opts.insecure) == (False, True)


def test_an_abbreviated_or_unknown_flag_is_refused() -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["--host", "0.0.0.0"])
    assert exited.value.code == 2
