"""The bash tool on real processes: output, exit codes, timeouts, aborts and process-group cleanup."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support.procs import live_group
from wakeful.config import ServerConfig
from wakeful.errors import ToolError
from wakeful.tools.base import ToolContext
from wakeful.tools.bash import bash_tool, run_shell


def make_ctx(tmp_path: Path, **kw: object) -> ToolContext:
    return ToolContext(session_id="ses", message_id="msg", call_id="call", directory=tmp_path, **kw)  # type: ignore[arg-type]


def assert_group_dead(pgid: int) -> None:
    """A tool call returns only once its process group is gone (run_shell waits for it): no wait."""
    assert not live_group(pgid), f"group {pgid} still has live processes {live_group(pgid)}"


async def assert_group_gone(pgid: int, within: float) -> None:
    """For a group nothing waits for (its server died): poll /proc until it is gone."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if not live_group(pgid):
            return
        assert time.monotonic() < deadline, f"group {pgid} still has live processes {live_group(pgid)}"
        await asyncio.sleep(0.01)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[int | None] = []
        self.started = asyncio.Event()

    async def __call__(self, pgid: int | None) -> None:
        self.calls.append(pgid)
        self.started.set()


async def test_echo_matches_reference_shape(tmp_path: Path) -> None:
    result = await bash_tool.call({"command": "echo hi-from-tool"}, make_ctx(tmp_path))
    assert result.output == "hi-from-tool\n"
    assert result.metadata == {"output": "hi-from-tool\n", "exit": 0, "truncated": False}
    assert result.title == "echo hi-from-tool"


async def test_runs_in_directory_and_merges_stderr(tmp_path: Path) -> None:
    args = {"command": "pwd; echo err >&2", "description": "Show directory"}
    result = await bash_tool.call(args, make_ctx(tmp_path))
    assert result.output == f"{tmp_path}\nerr\n"
    assert result.title == "Show directory"
    assert result.metadata["description"] == "Show directory"


async def test_nonzero_exit_is_a_result_not_an_error(tmp_path: Path) -> None:
    result = await bash_tool.call({"command": "echo oops; exit 3"}, make_ctx(tmp_path))
    assert result.metadata["exit"] == 3
    assert result.output.startswith("oops\n")
    assert "exited with code 3" in result.output


async def test_workdir_relative_to_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    result = await bash_tool.call({"command": "pwd", "workdir": "sub"}, make_ctx(tmp_path))
    assert result.output == f"{tmp_path / 'sub'}\n"


@pytest.mark.parametrize(
    "args",
    [
        {"command": ""},
        {"command": "true", "timeout": -5},
        {"command": "true", "timeout": "soon"},
        {"command": "true", "workdir": "missing"},
    ],
)
async def test_bad_arguments(tmp_path: Path, args: dict[str, object]) -> None:
    with pytest.raises(ToolError):
        await bash_tool.call(args, make_ctx(tmp_path))


async def test_stdin_is_closed(tmp_path: Path) -> None:
    # cat ends at EOF; on an open stdin it would wait until the call's timeout (10 s) killed it
    result = await bash_tool.call({"command": "cat; echo done", "timeout": 10_000}, make_ctx(tmp_path))
    assert result.output == "done\n"
    assert result.metadata["exit"] == 0


async def test_on_process_gets_pgid_then_none(tmp_path: Path) -> None:
    rec = Recorder()
    result = await bash_tool.call(
        {"command": "awk '{print $5}' /proc/$$/stat"}, make_ctx(tmp_path, on_process=rec)
    )
    assert len(rec.calls) == 2 and rec.calls[1] is None
    assert rec.calls[0] == int(result.output.strip())


async def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    rec = Recorder()
    ctx = make_ctx(tmp_path, on_process=rec)
    start = time.monotonic()
    result = await bash_tool.call({"command": "sleep 300 & echo started; sleep 300", "timeout": 300}, ctx)
    # The timeout firing is the point: 0.3 s, the SIGTERM grace (0.5 s), and margin.
    assert time.monotonic() - start < 1.5
    assert result.metadata["exit"] is None
    assert result.output.startswith("started\n")
    assert "exceeding timeout 300 ms" in result.output
    pgid = rec.calls[0]
    assert pgid is not None
    assert_group_dead(pgid)


async def test_timeout_capped_by_limits(tmp_path: Path) -> None:
    ctx = make_ctx(
        tmp_path,
        config=ServerConfig.build({}, bash_timeout=100, bash_max_timeout=0.3),
    )
    start = time.monotonic()
    result = await bash_tool.call({"command": "sleep 300", "timeout": 100_000}, ctx)
    # The cap firing is the point: 0.3 s instead of 100 s, plus the SIGTERM grace and margin.
    assert time.monotonic() - start < 1.5
    assert result.metadata["exit"] is None


async def test_cancellation_kills_everything_within_a_second(tmp_path: Path) -> None:
    rec = Recorder()
    ctx = make_ctx(tmp_path, on_process=rec)
    task = asyncio.create_task(bash_tool.call({"command": "sleep 300 & sleep 300"}, ctx))
    await asyncio.wait_for(rec.started.wait(), 2)
    pgid = rec.calls[0]
    assert pgid is not None
    while len(live_group(pgid)) < 2:  # both sleeps exist before we abort
        await asyncio.sleep(0.01)
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Promptness is the point: an abort must not wait for what the command runs.
    assert time.monotonic() - start < 1
    assert live_group(pgid) == []
    assert_group_dead(pgid)
    assert rec.calls == [pgid, None]


async def test_background_child_holding_stdout_does_not_hang(tmp_path: Path) -> None:
    rec = Recorder()
    start = time.monotonic()
    result = await bash_tool.call({"command": "sleep 300 & echo hi"}, make_ctx(tmp_path, on_process=rec))
    # Not hanging is the point: the shell's exit, then at most the drain wait (0.15 s), and margin.
    assert time.monotonic() - start < 1
    assert result.output == "hi\n"
    assert result.metadata["exit"] == 0
    pgid = rec.calls[0]
    assert pgid is not None
    assert_group_dead(pgid)


async def test_truncates_bytes_keeping_head_and_tail(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, config=ServerConfig.build({}, tool_output_max_bytes=1000))
    command = "printf 'HEAD'; head -c 100000 /dev/zero | tr '\\0' a; printf 'TAIL'"
    result = await bash_tool.call({"command": command}, ctx)
    assert result.metadata["truncated"] is True
    assert result.output.startswith("HEAD") and result.output.endswith("TAIL")
    assert "99008 bytes truncated" in result.output
    assert len(result.output) < 1200


async def test_truncates_lines(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, config=ServerConfig.build({}, tool_output_max_lines=10))
    result = await bash_tool.call({"command": "seq 1 100"}, ctx)
    assert result.metadata["truncated"] is True
    lines = result.output.splitlines()
    assert lines[:5] == ["1", "2", "3", "4", "5"]
    assert lines[-5:] == ["96", "97", "98", "99", "100"]
    assert "90 lines truncated" in result.output


async def test_passwords_not_inherited_from_ctx_env(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "KEEP_ME": "yes",
        "OPENCODE_SERVER_PASSWORD": "p1",
        "WAKEFUL_SERVER_PASSWORD": "p2",
        "OTHER_SERVER_PASSWORD": "p3",
    }
    result = await bash_tool.call({"command": "env"}, make_ctx(tmp_path, env=env))
    assert "KEEP_ME=yes" in result.output
    assert "SERVER_PASSWORD" not in result.output


async def test_passwords_not_inherited_from_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENCODE_SERVER_PASSWORD", "secret1")
    monkeypatch.setenv("WAKEFUL_SERVER_PASSWORD", "secret2")
    monkeypatch.setenv("WAKEFUL_TEST_VISIBLE", "visible")
    result = await bash_tool.call({"command": "env"}, make_ctx(tmp_path))
    assert "WAKEFUL_TEST_VISIBLE=visible" in result.output
    assert "secret" not in result.output


async def test_run_shell_directly(tmp_path: Path) -> None:
    outcome = await run_shell("echo $PWD; exit 7", tmp_path, 5, None, None)
    assert outcome.output == f"{tmp_path}\n"
    assert outcome.exit_code == 7
    assert not outcome.timed_out and not outcome.truncated
    assert outcome.pgid > 0


async def test_command_waits_until_its_group_is_recorded(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    seen: list[bool] = []

    async def record(pgid: int | None) -> None:
        if pgid is not None:
            await asyncio.sleep(0.3)  # a slow commit of the process group
            seen.append(marker.exists())

    outcome = await run_shell(f"touch {marker}", tmp_path, 5, None, record)
    assert seen == [False]
    assert outcome.exit_code == 0 and marker.exists()


_DIES_BEFORE_RECORDING = """
import asyncio, os, signal, sys
from wakeful.tools.bash import run_shell

async def record(pgid):
    if pgid is not None:
        print(pgid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # the server dies before the group is recorded

asyncio.run(run_shell(sys.argv[1], sys.argv[2], 30, None, record))
"""


async def test_command_never_runs_when_its_server_dies_before_recording(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _DIES_BEFORE_RECORDING,
        f"touch {marker}",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    assert child.returncode == -signal.SIGKILL
    await assert_group_gone(int(out), within=5.0)
    assert not marker.exists()
