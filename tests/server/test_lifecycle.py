"""The data directory: one server at a time, and data that survives a restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.server import WakefulProcess


def test_second_server_on_the_same_data_dir_refuses_to_start(tmp_path: Path, project: Path) -> None:
    first = WakefulProcess(tmp_path / "data", project).start()
    try:
        assert first.proc is not None
        result = subprocess.run(
            [sys.executable, "-m", "wakeful", "serve", "--port", "0", "--data-dir", str(tmp_path / "data")],
            cwd=project,
            env=first.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2
        assert "is in use by another wakeful server" in result.stderr
        assert f"pid {first.proc.pid}" in result.stderr and first.url in result.stderr
        with first.client() as http:
            assert http.get("/global/health").status_code == 200
    finally:
        first.stop()


def test_data_survives_a_restart(tmp_path: Path, project: Path) -> None:
    first = WakefulProcess(tmp_path / "data", project).start()
    try:
        with first.client() as http:
            session = http.post("/session", json={"title": "durable"}).json()
            http.post(
                f"/session/{session['id']}/message",
                json={"noReply": True, "parts": [{"type": "text", "text": "remember me"}]},
            )
            session = http.get(f"/session/{session['id']}").json()  # the prompt touched it
    finally:
        first.stop()
    second = WakefulProcess(tmp_path / "data", project).start()
    try:
        with second.client() as http:
            assert http.get(f"/session/{session['id']}").json() == session
            messages = http.get(f"/session/{session['id']}/message").json()
            assert [p["text"] for m in messages for p in m["parts"]] == ["remember me"]
    finally:
        second.stop()
