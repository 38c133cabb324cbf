"""A wakeful server SIGKILLed while a local MCP server runs: the next start kills what is left of
the MCP server's process group (server processes: the kill and the restart are the point)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.mcp.support import local_server
from tests.support.http import prompt_body, tool
from tests.support.procs import alive, wait_until
from tests.support.server import SCRIPTED, WakefulProcess, write_project_config
from wakeful.tools.bash import group_alive


def test_the_restart_kills_the_process_group_of_a_local_server(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_project_config(project, SCRIPTED, mcp={"k8s": local_server()})
    proc = WakefulProcess(tmp_path / "data", project).start()
    helper = 0
    try:
        with proc.client() as http:
            sid = http.post("/session", json={}).json()["id"]
            reply = http.post(f"/session/{sid}/message", json=prompt_body(tool("k8s_spawn"))).json()
            text = "".join(p.get("text", "") for p in reply["parts"] if p["type"] == "text")
            helper = int(text.removeprefix("TOOL_RESULT_SEEN: "))
        record = json.loads((tmp_path / "data" / "mcp-processes.json").read_text())
        (group,) = (int(g) for g in record["groups"])
        assert os.getpgid(helper) == group
        proc.kill()
        assert alive(helper)  # the server went with its stdin; its helper did not
        again = WakefulProcess(tmp_path / "data", project).start()
        again.stop()
        wait_until(lambda: not alive(helper), timeout=5, interval=0.02)
        assert not group_alive(group)
    finally:
        proc.kill()
        if helper and alive(helper):
            os.kill(helper, signal.SIGKILL)
