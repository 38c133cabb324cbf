"""Local MCP servers' process groups in the data directory: recorded while they run, killed by the
next start after a crash (in-process app: its lifespan runs the recovery)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from tests.support.inproc import running, server_config
from wakeful.mcp.processes import FILE_NAME, ProcessRecord
from wakeful.tools.bash import group_alive


async def orphan() -> subprocess.Popen[bytes]:
    """A process in a group of its own, as a local server's is."""
    return await asyncio.to_thread(subprocess.Popen, ["sleep", "300"], start_new_session=True)


async def test_groups_are_recorded_and_forgotten(tmp_path: Path) -> None:
    record = ProcessRecord(tmp_path)
    await record.add(101, "k8s")
    await record.add(102, "ops")
    await record.remove(101)
    data = json.loads((tmp_path / FILE_NAME).read_text())
    assert data["groups"] == {"102": "ops"} and data["boot"]


async def test_the_next_start_kills_what_a_dead_server_left(tmp_path: Path, app_project: Path) -> None:
    config = server_config(tmp_path / "data", app_project)
    proc = await orphan()
    try:
        await ProcessRecord(config.data_dir).add(proc.pid, "k8s")  # as a SIGKILLed server leaves it
        async with running(config):
            assert not (config.data_dir / FILE_NAME).exists()
            await asyncio.to_thread(proc.wait)
            assert not group_alive(proc.pid)
    finally:
        proc.kill()
        await asyncio.to_thread(proc.wait)


async def test_groups_of_another_boot_are_left_alone(tmp_path: Path) -> None:
    proc = await orphan()
    try:
        (tmp_path / FILE_NAME).write_text(json.dumps({"boot": "another", "groups": {str(proc.pid): "k8s"}}))
        assert await ProcessRecord(tmp_path).kill_left_over() == 1
        assert proc.poll() is None and not (tmp_path / FILE_NAME).exists()
    finally:
        proc.kill()
        await asyncio.to_thread(proc.wait)
