"""A real wakeful server in its own process, on a loopback port, for the tests."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
# Servers a test started and did not stop (a failed assertion, a timeout) are killed at exit, so
# nothing outlives the test run.
_started: weakref.WeakSet[WakefulProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_started):
        proc.kill()


# The timings of every test server, in a process or in-process (tests/support/inproc.py): short, so
# that retries and keep-alives do not slow the suite, but far from anything a test waits on.
TIMINGS = {
    "WAKEFUL_KEEPALIVE_INTERVAL": "0.2",
    "WAKEFUL_SSE_HEARTBEAT": "0.5",
    "WAKEFUL_RETRY_BASE": "0.05",
    "WAKEFUL_RETRY_MAX_DELAY": "0.2",
    "WAKEFUL_PART_FLUSH_INTERVAL": "0.05",
    "WAKEFUL_PROVIDER_SILENCE": "5",
    "WAKEFUL_DRAIN_TIMEOUT": "2",
    "WAKEFUL_CONFIG_FRESHNESS": "0",
}


def isolated_environ(home: Path) -> dict[str, str]:
    """The environment of a test server: this one without WAKEFUL_* and OPENCODE_* variables, a home
    of its own (so no global opencode config leaks in), and TIMINGS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAKEFUL_", "OPENCODE_"))}
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            **TIMINGS,
        }
    )
    return env


# As `llm_url`: the providers are wakeful's scripted model, in the server's own process.
SCRIPTED = "wakeful/scripted"


def write_project_config(directory: Path, llm_url: str | None, **extra: Any) -> Path:
    """An opencode.json with providers `mock` and `anth`, model `mock/mock-model` by default: the fake
    LLM at `llm_url` as an OpenAI-compatible and an Anthropic provider, or (`llm_url` = SCRIPTED)
    the scripted model under both names; no provider if `llm_url` is None."""
    config: dict[str, Any] = {"$schema": "https://opencode.ai/config.json"}
    if llm_url:
        base = llm_url.rstrip("/")
        scripted = llm_url == SCRIPTED
        config["provider"] = {
            "mock": {
                "npm": SCRIPTED if scripted else "@ai-sdk/openai-compatible",
                "name": "Mock",
                # the scripted model needs no key; it is there for /provider to hide
                "options": {"apiKey": "test-key"} if scripted else {"baseURL": base, "apiKey": "test-key"},
                "models": {"mock-model": {"name": "Mock Model"}},
            },
            "anth": {
                "npm": SCRIPTED if scripted else "@ai-sdk/anthropic",
                "name": "Mock Anthropic",
                "options": (
                    {"apiKey": "test-key"}
                    if scripted
                    else {"baseURL": base.removesuffix("/v1"), "apiKey": "test-key"}
                ),
                "models": {"claude-mock": {"name": "Claude Mock"}},
            },
        }
        config["model"] = "mock/mock-model"
    config.update(extra)
    path = directory / "opencode.json"
    path.write_text(json.dumps(config, indent=2))
    return path


class WakefulProcess:
    def __init__(
        self,
        data_dir: Path,
        project_dir: Path,
        *,
        env: dict[str, str | None] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.project_dir = project_dir
        self.extra_env = env or {}
        self.args = args or []
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.url = ""
        self.output: list[str] = []

    def env(self) -> dict[str, str]:
        env = isolated_environ(self.data_dir / "home")
        env["PYTHONUNBUFFERED"] = "1"
        for key, value in self.extra_env.items():
            # None removes a default, e.g. to run with the server's own keep-alive interval.
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(self, timeout: float = 30.0) -> WakefulProcess:
        cmd = [
            sys.executable,
            "-m",
            "wakeful",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(self.data_dir),
            *self.args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.project_dir,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith("wakeful listening on "):
                self.url = line.split()[-1]
                _started.add(self)
                self._reader = threading.Thread(target=self._drain_output, daemon=True)
                self._reader.start()
                return self
        self.proc.kill()
        self._reap()
        raise RuntimeError("wakeful did not start:\n" + "".join(self.output))

    def _drain_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.url, **kwargs)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._reap()

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        """Wait for the exited process and close its output pipe once the reader has read it all."""
        assert self.proc is not None and self.proc.stdout is not None
        self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        self.proc.stdout.close()
