"""`opencode run --attach` (opencode-ai 1.18.33, from the committed lock file) on a real wakeful: one
prompt, and its answer on standard output (where the reference's own server leaves it empty)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from tests.conformance.runner import opencode_binary, opencode_environment
from tests.support.fakellm import FakeLLMThread
from tests.support.server import WakefulProcess, write_project_config

TIMEOUT = 120.0


def test_opencode_run_attach_prints_the_answer(
    server: WakefulProcess, llm: FakeLLMThread, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex[:8]
    project = tmp_path / "project"
    project.mkdir()
    write_project_config(project, llm.url)
    home = tmp_path / "home"
    home.mkdir()
    # The words of the message are joined by opencode: the script's directive comes first.
    command = [
        str(opencode_binary()),
        "run",
        "--attach",
        server.url,
        "--dir",
        str(project),
        "REPLY",
        f"attached-{marker}",
    ]
    done = subprocess.run(
        command, env=opencode_environment(home), cwd=project, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"attached-{marker}"
    assert llm.count(f"REPLY attached-{marker}") == 1
