"""opencode's own terminal UI (`opencode attach`, opencode-ai 1.18.33 from the committed lock file)
on a real wakeful, in a pseudo-terminal (tmux), driven by keys and read off the screen.

The UI attaches, a prompt typed into it is answered, a second one runs a `bash` tool call, a run
started by another client (as cron would) shows up live in the same session, and scrolling back
shows the first exchange again. Every request the UI
makes goes through a recording proxy and must be answered without an error, so a route the UI needs
and wakeful lacks fails here. The UI runs isolated: a throwaway HOME, no update check, no model
catalogue fetch, and an npm registry that refuses connections, so it never waits on the network.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.runner import opencode_binary, opencode_environment
from tests.support.fakellm import FakeLLMThread
from tests.support.recorder import Recorder
from tests.support.server import WakefulProcess, write_project_config
from tests.support.terminal import Terminal

# Generous: the UI's start-up is seconds on a loaded two-core machine, an answer well under one.
PATIENCE = 90.0


@pytest.fixture
def recorder(server: WakefulProcess) -> Iterator[Recorder]:
    proxy = Recorder(server.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def tui_project(tmp_path: Path, llm: FakeLLMThread) -> Path:
    directory = tmp_path / "tui project"
    directory.mkdir()
    write_project_config(directory, llm.url)
    return directory


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    # Short enough that the first exchange scrolls away by the third, so scrolling back is shown.
    term = Terminal(tmp_path / "tmux.sock", width=120, height=24)
    yield term
    term.close()


def has_line(text: str, *, without: str = "") -> Callable[[str], bool]:
    """A screen test: some line shows `text` (and not `without`)."""

    def found(screen: str) -> bool:
        return any(text in line and not (without and without in line) for line in screen.splitlines())

    return found


def test_the_terminal_ui_attaches_prompts_runs_a_tool_and_watches_another_clients_run(
    server: WakefulProcess,
    recorder: Recorder,
    tui_project: Path,
    terminal: Terminal,
    tmp_path: Path,
) -> None:
    marker = uuid.uuid4().hex[:8]
    home = tmp_path / "home"
    home.mkdir()
    command = [str(opencode_binary()), "attach", recorder.url, "--dir", str(tui_project)]
    terminal.start(command, opencode_environment(home), cwd=tui_project)
    try:
        terminal.wait_for("the prompt", has_line("Ask anything"), PATIENCE)

        # A prompt typed into the UI, answered on its screen.
        terminal.type(f"REPLY first-{marker}")
        terminal.press("Enter")
        terminal.wait_for("the first answer", has_line(f"first-{marker}", without="REPLY"), PATIENCE)

        # A second one, with a bash tool call: the command, its output and the answer appear.
        terminal.type(f'TOOL bash {{"command": "echo tool-{marker}", "description": "say {marker}"}}')
        terminal.press("Enter")
        screen = terminal.wait_for(
            "the tool call's answer", has_line(f"TOOL_RESULT_SEEN: tool-{marker}"), PATIENCE
        )
        assert f"$ echo tool-{marker}" in screen
        assert any(line.strip().strip("┃").strip() == f"tool-{marker}" for line in screen.splitlines())

        # A run started by another client in the same session is watched live.
        with httpx.Client(base_url=server.url, timeout=30) as http:
            listed = http.get("/session", params={"directory": str(tui_project)}).json()
            assert len(listed) == 1, listed
            session_id = listed[0]["id"]
            started = http.post(
                f"/session/{session_id}/prompt_async",
                params={"directory": str(tui_project)},
                json={"parts": [{"type": "text", "text": f"REPLY from-cron-{marker}"}]},
            )
            assert started.status_code == 204
            terminal.wait_for(
                "the other client's answer", has_line(f"from-cron-{marker}", without="REPLY"), PATIENCE
            )
            users = [
                m for m in http.get(f"/session/{session_id}/message").json() if m["info"]["role"] == "user"
            ]
            assert len(users) == 3

        # Scrolling back brings the first exchange into view again.
        first_answer = has_line(f"first-{marker}", without="REPLY")
        assert not first_answer(terminal.screen()), "the first answer had not scrolled away"
        terminal.press_until("PageUp", "the first answer again", first_answer, PATIENCE)
    except AssertionError as failure:
        tail = "".join(server.output[-40:])
        raise AssertionError(
            f"{failure}\n--- requests ---\n{recorder.exchanges}\n--- wakeful ---\n{tail}"
        ) from None

    paths = {(e.method, e.path) for e in recorder.exchanges}
    assert ("GET", "/global/event") in paths and ("POST", f"/session/{session_id}/message") in paths
    failed = [e for e in recorder.exchanges if e.status >= 400]
    assert not failed, f"the UI asked for what wakeful does not serve: {failed}"
