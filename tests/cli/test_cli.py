"""The command line through its real entry point (`python -m wakeful ...` in a subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.support.http import new_session
from tests.support.procs import alive, descendants, wait_until
from tests.support.server import WakefulProcess
from wakeful.server.lock import read_holder


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAKEFUL_", "OPENCODE_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "wakeful", *args]


def wakeful(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(*args), cwd=cwd, env=_env(env), capture_output=True, text=True, timeout=timeout)


def test_run_with_a_tool_call(server: WakefulProcess, project: Path) -> None:
    marker = uuid.uuid4().hex[:8]
    prompt = f'TOOL bash {{"command":"echo tool-{marker}"}}\nREPLY finished {marker}'
    done = wakeful("run", prompt, "--url", server.url, cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"finished {marker}"  # only the answer on stdout
    assert "bash running" in done.stderr and "bash completed" in done.stderr
    assert f"echo tool-{marker}" in done.stderr
    assert "done in" in done.stderr


def test_a_failing_run_exits_non_zero(server: WakefulProcess, project: Path) -> None:
    done = wakeful("run", "ERROR 400", "--url", server.url, cwd=project)
    assert done.returncode == 1
    assert "APIError" in done.stderr


def test_json_format_is_one_event_per_line_then_the_answer(
    server: WakefulProcess, project: Path, http: httpx.Client
) -> None:
    sid = new_session(http)
    done = wakeful("run", "DRIP 3 0.05\nREPLY json answer", "--session", sid, "--format", "json", "--url", server.url, cwd=project)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    *events, final = lines
    assert final["info"]["role"] == "assistant" and final["info"]["sessionID"] == sid
    assert "".join(p["text"] for p in final["parts"] if p["type"] == "text") == "json answer"
    kinds = [e["type"] for e in events]
    assert "message.part.delta" in kinds and "message.updated" in kinds
    assert all(e["properties"]["sessionID"] == sid for e in events)
    deltas = "".join(e["properties"]["delta"] for e in events if e["type"] == "message.part.delta")
    assert deltas == "json answer"


def test_sigint_mid_tool_aborts_the_run(server: WakefulProcess, project: Path, http: httpx.Client) -> None:
    sid = new_session(http)
    assert server.proc is not None
    proc = subprocess.Popen(
        _command("run", 'TOOL bash {"command":"sleep 300"}', "--session", sid, "--url", server.url),
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # the live view says when the tool is running
            seen.append(line)
            if "bash running" in line:
                break
        assert any("bash running" in line for line in seen), seen
        server_pid = server.proc.pid
        # "running" is announced as the tool starts; its command execs a moment later.
        sleeps: list[int] = wait_until(
            lambda: [pid for pid, argv in descendants(server_pid).items() if argv == ["sleep", "300"]], timeout=10
        )
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest
    assert sid not in http.get("/session/status").json()  # idle
    last = http.get(f"/session/{sid}/message").json()[-1]
    assert last["info"]["role"] == "assistant"
    assert last["info"]["error"]["name"] == "MessageAbortedError"
    wait_until(lambda: not any(alive(pid) for pid in sleeps), timeout=10)  # sleep 300 died with the abort


def test_run_uses_the_server_holding_the_data_directory(
    server: WakefulProcess, project: Path, http: httpx.Client
) -> None:
    marker = uuid.uuid4().hex[:8]
    done = wakeful("run", f"REPLY via the lock {marker}", "--data-dir", str(server.data_dir), cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"via the lock {marker}"
    sessions = http.get("/session").json()
    messages = http.get(f"/session/{sessions[0]['id']}/message").json()
    assert any(marker in p.get("text", "") for m in messages for p in m["parts"])


def test_run_starts_a_server_when_none_holds_the_directory(tmp_path: Path, project: Path) -> None:
    data_dir = tmp_path / "data"
    # The environment of a test server (fast keep-alives, a private HOME), with a password that
    # both the started server and the command line read.
    env = WakefulProcess(data_dir, project, env={"WAKEFUL_SERVER_PASSWORD": "pw"}).env()
    done = wakeful("run", "REPLY from a fresh server", "--data-dir", str(data_dir), cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from a fresh server"
    assert (data_dir / "wakeful.db").exists()
    assert read_holder(data_dir) is None  # the server it started is gone, and the lock with it


def test_session_commands(server: WakefulProcess, project: Path, http: httpx.Client) -> None:
    sid = new_session(http)
    http.post(f"/session/{sid}/message", json={"parts": [{"type": "text", "text": "REPLY shown later"}]})
    listed = wakeful("session", "list", "--format", "json", "--url", server.url, cwd=project)
    assert sid in {s["id"] for s in json.loads(listed.stdout)}
    shown = wakeful("session", "show", sid, "--url", server.url, cwd=project)
    assert shown.returncode == 0 and "shown later" in shown.stdout
    deleted = wakeful("session", "delete", sid, "--url", server.url, cwd=project)
    assert deleted.returncode == 0 and sid in deleted.stdout
    missing = wakeful("session", "show", sid, "--url", server.url, cwd=project)
    assert missing.returncode == 1 and "not found" in missing.stderr.lower()


def test_shell_prints_the_output_and_exits_with_its_code(server: WakefulProcess, project: Path) -> None:
    done = wakeful("shell", "echo out-of-shell; exit 3", "--url", server.url, cwd=project)
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == "out-of-shell"
