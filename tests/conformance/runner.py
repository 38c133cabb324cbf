"""Runs `suite.mjs` (opencode's JavaScript SDK against a wakeful server) in Node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.fakellm import FakeLLMThread
from tests.support.server import WakefulProcess

HERE = Path(__file__).resolve().parent
SDK_VERSION = "1.18.33"
NODE_TIMEOUT = 90.0


# The packages pinned to the reference's version: its JavaScript SDK, and opencode itself (the
# terminal UI), which brings its platform's binary as an optional dependency.
PINNED = ("@opencode-ai/sdk", "opencode-ai")


def installed_version(package: str) -> str | None:
    manifest = HERE / "node_modules" / package / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def ensure_node_packages() -> str:
    """The `node` binary, once the packages of the committed lock file are installed (`make test`
    runs `npm ci` before pytest; a bare pytest run installs them here the same way)."""
    node = shutil.which("node")
    assert node, "node (20.18 or later) is required by the conformance suite"
    marker = HERE / "node_modules" / ".package-lock.json"
    stale = not marker.exists() or marker.stat().st_mtime < (HERE / "package-lock.json").stat().st_mtime
    if stale or any(installed_version(p) != SDK_VERSION for p in PINNED):
        npm = shutil.which("npm")
        assert npm, "npm is required to install the conformance suite's packages"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True, timeout=300
        )
    assert all(installed_version(p) == SDK_VERSION for p in PINNED)
    return node


UNREACHABLE = "http://127.0.0.1:9/"  # nothing listens there: a refused connection, at once


def opencode_environment(home: Path) -> dict[str, str]:
    """The whole environment of an opencode process under test: a throwaway home, no update check,
    no model catalogue fetch, and an npm registry that refuses connections (no plugin install), so
    that it never waits on the network."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "npm_config_registry": UNREACHABLE,
        "NPM_CONFIG_REGISTRY": UNREACHABLE,
    }


def opencode_binary() -> Path:
    """opencode's own command (`opencode attach` is its terminal UI), from the committed lock file."""
    ensure_node_packages()
    binary = HERE / "node_modules" / ".bin" / "opencode"
    assert binary.exists(), f"{binary} is missing: npm did not install opencode-ai's platform binary"
    return binary


@dataclass
class NodeRun:
    returncode: int
    output: str
    seconds: float


@dataclass
class SuiteRunner:
    node: str
    llm: FakeLLMThread
    project: Path

    def __call__(self, server: WakefulProcess, entry: str, mode: str, **extra: str) -> NodeRun:
        """Run the scenario for one SDK entry point (`v1`, `v2`) and mode (`plain`, `short-timeouts`)."""
        tag = f"{entry}-{mode}-{os.getpid()}-{time.monotonic_ns()}"
        env = {
            **os.environ,
            "WAKEFUL_URL": server.url,
            "FAKE_LLM_URL": self.llm.url.removesuffix("/v1"),
            "PROJECT_DIR": str(self.project),
            "SDK_ENTRY": entry,
            "SUITE_MODE": mode,
            "RUN_TAG": tag,
            **extra,
        }
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [self.node, str(HERE / "suite.mjs")],
                cwd=HERE,
                env=env,
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT,
            )
            run = NodeRun(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"") + (exc.stderr or b"")
            text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
            run = NodeRun(-1, f"{text}\n(node killed after {NODE_TIMEOUT:g} s)", time.monotonic() - started)
        finally:
            self.llm.release(f"abort-{tag}")  # a failed run may leave its held prompt parked
        print(run.output)
        if run.returncode != 0:
            raise AssertionError(
                f"suite.mjs ({entry}, {mode}) exited {run.returncode} after {run.seconds:.1f} s\n"
                f"--- node output ---\n{run.output}\n"
                f"--- wakeful output (tail) ---\n{''.join(server.output[-60:])}"
            )
        return run
