"""MCP servers' tools in runs (in-process app, scripted model): a local server over stdio and a
remote one over streamable HTTP, called by the model with their results seen by it; a local server
killed mid-call; a call's timeout and abort; permission rules and agents' `tools` patterns."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.mcp_server import Served, serve_http
from tests.mcp.support import hold_fifo, local_server, read_line
from tests.support.http import tool
from tests.support.inproc import InProcess, create_session, messages, ok, prompt
from tests.support.server import SCRIPTED, write_project_config
from wakeful.tools.bash import group_alive

Json = dict[str, Any]


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, Served]]:
    with serve_http() as served:
        yield served


@pytest.fixture
def remote(http_server: tuple[str, Served]) -> tuple[str, Served]:
    """The module's server over HTTP, its calls forgotten."""
    http_server[1].calls.clear()
    return http_server


def configure(project: Path, **extra: Any) -> None:
    write_project_config(project, SCRIPTED, **extra)


def text_of(reply: Json) -> str:
    return "".join(p.get("text", "") for p in reply["parts"] if p["type"] == "text")


async def tool_parts(wakeful: InProcess, sid: str) -> list[Json]:
    return [p for m in await messages(wakeful.client, sid) for p in m["parts"] if p["type"] == "tool"]


async def test_a_local_servers_tool_is_called_and_its_answer_reaches_the_model(wakeful: InProcess) -> None:
    configure(wakeful.project, mcp={"k8s": local_server()})
    first, second = await create_session(wakeful.client), await create_session(wakeful.client)
    reply = await prompt(wakeful.client, first, tool("k8s_echo", text="pods"))
    assert text_of(reply) == "TOOL_RESULT_SEEN: echo: pods"
    (part,) = await tool_parts(wakeful, first)
    assert part["tool"] == "k8s_echo" and part["state"]["status"] == "completed"
    assert part["state"]["output"] == "echo: pods"
    (connection,) = wakeful.runtime.mcp._connections.values()
    pid = connection.pid
    assert (
        pid is not None and str(pid) in (wakeful.runtime.config.data_dir / "mcp-processes.json").read_text()
    )
    # another session of the project gets the same server
    assert text_of(await prompt(wakeful.client, second, tool("k8s_echo", text="again"))).endswith("again")
    assert connection.pid == pid
    await wakeful.runtime.mcp.close()  # as the server's shutdown does
    assert not group_alive(pid)
    assert 'groups": {}' in (wakeful.runtime.config.data_dir / "mcp-processes.json").read_text()


async def test_a_remote_servers_tool_is_called_over_streamable_http(
    remote: tuple[str, Served], wakeful: InProcess
) -> None:
    url, server = remote
    configure(wakeful.project, mcp={"ops": {"type": "remote", "url": url}})
    sid = await create_session(wakeful.client)
    reply = await prompt(wakeful.client, sid, tool("ops_echo", text="deploys"))
    assert text_of(reply) == "TOOL_RESULT_SEEN: echo: deploys"
    assert server.calls == ["echo"]


async def test_a_local_server_killed_mid_call_fails_the_call_and_the_next_call_reconnects(
    wakeful: InProcess, tmp_path: Path
) -> None:
    fifo = hold_fifo(tmp_path)
    configure(wakeful.project, mcp={"k8s": local_server(environment={"MCP_HOLD_FIFO": str(fifo)})})
    sid = await create_session(wakeful.client)
    script = "\n".join([tool("k8s_hold"), tool("k8s_echo", text="back")])
    running = asyncio.create_task(prompt(wakeful.client, sid, script))
    pid = int(await read_line(fifo))  # the call is in the server now
    os.kill(pid, signal.SIGKILL)
    reply = await running
    held, echoed = await tool_parts(wakeful, sid)
    assert held["state"]["status"] == "error"
    assert "went away during the call" in held["state"]["error"]
    assert echoed["state"]["status"] == "completed", echoed["state"]
    assert echoed["state"]["output"] == "echo: back"
    assert text_of(reply) == "TOOL_RESULT_SEEN: echo: back"
    (connection,) = wakeful.runtime.mcp._connections.values()
    assert connection.pid not in (None, pid)
    assert ok(await wakeful.client.get("/mcp")) == {"k8s": {"status": "connected"}}


async def test_a_call_that_outlasts_the_servers_timeout_is_a_tool_error(
    remote: tuple[str, Served], wakeful: InProcess
) -> None:
    url, _ = remote
    configure(wakeful.project, mcp={"ops": {"type": "remote", "url": url, "timeout": 300}})
    sid = await create_session(wakeful.client)
    reply = await prompt(wakeful.client, sid, tool("ops_wait"))
    assert text_of(reply) == "TOOL_RESULT_SEEN: The MCP server ops did not answer within 0.3 s"


async def test_an_abort_cancels_the_call(
    remote: tuple[str, Served], wakeful: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = hold_fifo(tmp_path)
    monkeypatch.setenv("MCP_HOLD_FIFO", str(fifo))
    url, _ = remote
    configure(wakeful.project, mcp={"ops": {"type": "remote", "url": url}})
    sid = await create_session(wakeful.client)
    running = asyncio.create_task(prompt(wakeful.client, sid, tool("ops_hold")))
    await read_line(fifo)
    assert ok(await wakeful.client.post(f"/session/{sid}/abort")) is True
    reply = await running
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    (part,) = await tool_parts(wakeful, sid)
    assert part["state"]["status"] == "error"


async def test_a_deny_rule_holds_for_an_mcp_tool(remote: tuple[str, Served], wakeful: InProcess) -> None:
    url, server = remote
    configure(
        wakeful.project,
        mcp={"ops": {"type": "remote", "url": url}},
        permission={"ops_echo": "deny"},
    )
    sid = await create_session(wakeful.client)
    reply = await prompt(wakeful.client, sid, tool("ops_echo", text="x"))
    assert "TOOL_RESULT_SEEN: Permission denied" in text_of(reply)
    (part,) = await tool_parts(wakeful, sid)
    assert '{"permission": "ops_echo", "pattern": "*", "action": "deny"}' in part["state"]["error"]
    # a session's rule that asks: nobody answers, so it is rejected
    sid = await create_session(
        wakeful.client, permission=[{"permission": "ops_*", "pattern": "*", "action": "deny"}]
    )
    reply = await prompt(wakeful.client, sid, tool("ops_picture"))
    assert "TOOL_RESULT_SEEN: Permission denied" in text_of(reply)
    assert server.calls == []


async def test_an_agents_tools_pattern_switches_a_servers_tools_off(
    remote: tuple[str, Served], wakeful: InProcess
) -> None:
    url, server = remote
    configure(
        wakeful.project,
        mcp={"ops": {"type": "remote", "url": url}},
        agent={"build": {"tools": {"ops_*": False, "ops_echo": True}}},
    )
    sid = await create_session(wakeful.client)
    reply = await prompt(wakeful.client, sid, "\n".join([tool("ops_picture"), tool("ops_echo", text="on")]))
    off, on = await tool_parts(wakeful, sid)
    assert off["state"]["error"] == "Unknown tool or not allowed for agent build: ops_picture"
    assert on["state"]["output"] == "echo: on"
    assert text_of(reply) == "TOOL_RESULT_SEEN: echo: on"
    assert server.calls == ["echo"]


async def test_images_and_embedded_files_are_stored_as_attachments(
    remote: tuple[str, Served], wakeful: InProcess
) -> None:
    url, _ = remote
    configure(wakeful.project, mcp={"ops": {"type": "remote", "url": url}})
    sid = await create_session(wakeful.client)
    await prompt(wakeful.client, sid, tool("ops_picture"))
    (part,) = await tool_parts(wakeful, sid)
    state = part["state"]
    assert state["output"] == "the chart"
    image, blob = state["attachments"]
    assert image["type"] == "file" and image["mime"] == "image/png"
    assert image["url"].startswith("data:image/png;base64,") and image["messageID"] == part["messageID"]
    assert blob["filename"] == "file:///data.bin" and blob["mime"] == "application/x-data"


async def test_a_changed_tool_list_is_announced_and_offered(
    remote: tuple[str, Served], wakeful: InProcess
) -> None:
    url, _ = remote
    configure(wakeful.project, mcp={"ops": {"type": "remote", "url": url}})
    events = wakeful.events()
    sid = await create_session(wakeful.client)
    await prompt(wakeful.client, sid, tool("ops_grow", called="fresh"))
    changed = await events.wait(lambda e: e["type"] == "mcp.tools.changed")
    assert changed["properties"] == {"server": "ops"}
    reply = await prompt(wakeful.client, sid, tool("ops_fresh"))
    assert text_of(reply) == "TOOL_RESULT_SEEN: fresh here"


async def test_an_mcp_call_is_counted_and_its_long_output_kept_whole_like_a_builtins(
    remote: tuple[str, Served], wakeful: InProcess
) -> None:
    url, _ = remote
    configure(
        wakeful.project,
        mcp={"ops": {"type": "remote", "url": url}},
        permission={"ops_picture": "deny"},
        tool_output={"max_bytes": 40},
    )
    sid = await create_session(wakeful.client)
    long = "x" * 100
    await prompt(wakeful.client, sid, "\n".join([tool("ops_echo", text=long), tool("ops_picture")]))
    echoed, _ = await tool_parts(wakeful, sid)
    assert echoed["state"]["metadata"]["truncated"] is True
    kept = Path(echoed["state"]["metadata"]["outputPath"])
    assert await asyncio.to_thread(kept.read_text) == f"echo: {long}"
    assert long not in echoed["state"]["output"]
    registry = wakeful.runtime.metrics.registry
    durations = "wakeful_tool_call_duration_seconds_count"
    assert registry.get_sample_value(durations, {"tool": "ops_echo", "outcome": "success"}) == 1
    # a denied tool is not offered, so it is counted as a denied built-in is: under "unknown"
    assert registry.get_sample_value(durations, {"tool": "unknown", "outcome": "denied"}) == 1
