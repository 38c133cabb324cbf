"""Fixtures of the conformance suite: the JavaScript side (`npm ci` from the committed lock file) and a
runner for `suite.mjs` against a real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.server import WakefulProcess

HERE = Path(__file__).resolve().parent
SDK_VERSION = "1.18.33"


def _installed_sdk_version() -> str | None:
    manifest = HERE / "node_modules" / "@opencode-ai" / "sdk" / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` binary, with the suite's packages installed (`make test` runs `npm ci` first; a
    bare `pytest` run installs them here the same way)."""
    binary = shutil.which("node")
    assert binary, "node is required by the conformance suite (Node 20 or later)"
    lock = HERE / "node_modules" / ".package-lock.json"
    stale = not lock.exists() or lock.stat().st_mtime < (HERE / "package-lock.json").stat().st_mtime
    if stale or _installed_sdk_version() != SDK_VERSION:
        npm = shutil.which("npm")
        assert npm, "npm is required to install the conformance suite's packages"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True, timeout=300
        )
    assert _installed_sdk_version() == SDK_VERSION
    return binary


@dataclass
class NodeRun:
    returncode: int
    output: str
    seconds: float


@pytest.fixture(scope="module")
def run_suite(node: str, llm: FakeLLMThread, project: Path) -> Iterator[object]:
    """Run `suite.mjs` for one entry point and mode against `server`; fail with node's output."""
    import time

    def run(server: WakefulProcess, entry: str, mode: str, **extra: str) -> NodeRun:
        tag = f"{entry}-{mode}-{os.getpid()}-{time.monotonic_ns()}"
        env = {
            **os.environ,
            "WAKEFUL_URL": server.url,
            "FAKE_LLM_URL": llm.url.removesuffix("/v1"),
            "PROJECT_DIR": str(project),
            "SDK_ENTRY": entry,
            "SUITE_MODE": mode,
            "RUN_TAG": tag,
            **extra,
        }
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [node, str(HERE / "suite.mjs")],
                cwd=HERE,
                env=env,
                capture_output=True,
                text=True,
                timeout=90,
            )
            result = NodeRun(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"") + (exc.stderr or b"")
            text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
            result = NodeRun(-1, text + "\n(node killed after 90 s)", time.monotonic() - started)
        finally:
            # a failed run may leave a prompt parked in the scripted LLM
            llm.release(f"abort-{tag}")
        print(result.output)
        if result.returncode != 0:
            server_log = "".join(server.output[-60:])
            pytest.fail(
                f"suite.mjs ({entry}, {mode}) exited {result.returncode}\n--- node output ---\n"
                f"{result.output}\n--- wakeful output (tail) ---\n{server_log}",
                pytrace=False,
            )
        return result

    yield run
