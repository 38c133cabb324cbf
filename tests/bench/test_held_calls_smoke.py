"""The held-calls benchmark in its 50-call smoke form (`bench/held_calls.py --smoke`): one wakeful
server, the scripted LLM in its own process, two client processes, every call held ~5 s on a 1 s
keep-alive. Fails on any failed call or a p99 keep-alive lateness of one interval or more."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fifty_held_calls_get_their_keepalives_on_time() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "held_calls.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "GOAL MET" in report and "failures            0" in report, report
