"""Start-up to the first healthy `GET /global/health` and to the first `GET /session` answered, and
idle resident memory, side by side.

Each round starts `wakeful serve` (and, with `--reference`, opencode's own `opencode serve`) on a free
loopback port, in a fresh data directory and a project whose opencode.json names an
OpenAI-compatible provider on a closed loopback port (no network), polls `/global/health` every
10 ms from the moment of the spawn, then asks `GET /session` once (wakeful answers it once its
route modules, loaded in a thread after the health check answers, are in), then lets the server sit
idle for `--idle` seconds and reads its RSS (the whole process tree: opencode's launcher runs the server as a child). The servers take
turns, so a load change on the machine hits both alike.

    .venv/bin/python bench/startup.py --rounds 5
    .venv/bin/python bench/startup.py --rounds 5 \\
        --reference tests/conformance/node_modules/opencode-ai/bin/opencode.exe    # after `make node-deps`
    .venv/bin/python bench/startup.py --with-sdks   # RSS once a prompt has loaded the provider SDK
    .venv/bin/python bench/startup.py --src /tmp/base/src   # another commit's sources (`git archive`)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.procs import rss_kib  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (/proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def project(directory: Path) -> None:
    directory.mkdir(parents=True)
    config = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "mock": {
                "npm": "@ai-sdk/openai-compatible",
                "options": {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "x"},
                "models": {"mock-model": {}},
            }
        },
        "model": "mock/mock-model",
    }
    (directory / "opencode.json").write_text(json.dumps(config))


def measure(kind: str, binary: str, idle: float, with_sdks: bool, src: Path) -> tuple[float, float, float]:
    work = Path(tempfile.mkdtemp(prefix=f"startup-{kind}-"))
    try:
        project(work / "project")
        port = free_port()
        home = work / "home"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
        }
        if kind == "wakeful":
            cmd = [sys.executable, "-m", "wakeful", "serve", "--port", str(port), "--data-dir", str(work / "data")]
            env["PYTHONPATH"] = str(src)
        else:
            cmd = [str(Path(binary).resolve()), "serve", "--port", str(port), "--hostname", "127.0.0.1"]
        began = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=work / "project", env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(timeout=1.0) as http:
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"{kind} exited with {proc.returncode} before it was healthy")
                    try:
                        if http.get(f"{url}/global/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() - began > 60:
                        raise RuntimeError(f"{kind} not healthy within 60 s")
                    time.sleep(0.01)
                healthy = time.monotonic() - began
                http.get(f"{url}/session", timeout=30).raise_for_status()
                routed = time.monotonic() - began
                if with_sdks:  # a prompt to the (closed) provider loads its SDK
                    sid = http.post(f"{url}/session", json={}).json()["id"]
                    http.post(f"{url}/session/{sid}/prompt_async",
                              json={"parts": [{"type": "text", "text": "hi"}]})
            time.sleep(idle)
            rss = sum(rss_kib(pid) for pid in tree(proc.pid)) / 1024
            return healthy, routed, rss
        finally:
            os.killpg(proc.pid, 9)
            proc.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before RSS is read")
    parser.add_argument("--reference", help="opencode's binary, measured in turn with wakeful")
    parser.add_argument("--with-sdks", action="store_true", help="one prompt first (loads the provider SDK)")
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="the wakeful sources to run (e.g. an older commit's, from `git archive`)")
    opts = parser.parse_args()
    kinds = ["wakeful"] + (["reference"] if opts.reference else [])
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in kinds}
    for round_ in range(opts.rounds):
        for kind in kinds:
            healthy, routed, rss = measure(kind, opts.reference or "", opts.idle, opts.with_sdks, opts.src.resolve())
            results[kind].append((healthy, routed, rss))
            print(f"round {round_ + 1} {kind:9} healthy after {healthy:.3f} s, GET /session after {routed:.3f} s, "
                  f"idle RSS {rss:.0f} MB", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    for kind in kinds:
        starts = [h for h, _, _ in results[kind]]
        routed = [s for _, s, _ in results[kind]]
        rss = [r for _, _, r in results[kind]]
        print(f"{kind:9} start-up median {statistics.median(starts):.3f} s (min {min(starts):.3f}, "
              f"max {max(starts):.3f}); GET /session median {statistics.median(routed):.3f} s; "
              f"idle RSS median {statistics.median(rss):.0f} MB")
    if opts.reference:
        for i, what in ((0, "start-up"), (1, "GET /session")):
            ratio = statistics.median(r[i] for r in results["wakeful"]) / statistics.median(
                r[i] for r in results["reference"])
            print(f"{what} ratio wakeful / reference: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
