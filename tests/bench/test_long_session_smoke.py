"""The long-session benchmark in a small form (`bench/long_session.py`), so that it keeps working:
a few prompts in a window small enough to compact. Its numbers are not checked, only that it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_small_long_session_runs_and_compacts() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "long_session.py"), "--prompts", "4", "--tools", "3", "--window", "8000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "4 prompts x 4 steps = 16 steps" in report, report
    compactions = int(report.split("steps; ")[1].split(" compactions")[0])
    assert compactions > 0, report
    assert report.count("\n| ") >= 4, report  # the header and a row per tenth of the steps
