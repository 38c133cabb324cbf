"""How a run looks in a terminal: events in, lines out.

`Tracker` turns the session's events into what a person wants to see (assistant text as it
streams, each tool call as its status changes, provider retries). Three views show it:

- `LiveView` (stderr is a terminal): tool lines stay on screen; the text being written and a
  spinner with the elapsed time live in a transient area at the bottom.
- `PlainView` (stderr is a file or a pipe): everything appended as it comes, no cursor tricks.
- `JsonView` (`--format json`): every event of the session as one JSON line on stdout.

The answer itself goes to stdout, so `wakeful run "..." > answer.txt` keeps only the answer.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from wakeful.client import Event, Gap

TEXT_TAIL_LINES = 8


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class ToolLine:
    tool: str
    status: str
    summary: str
    seconds: float | None = None
    error: str | None = None

    def render(self) -> Text:
        mark, style = {
            "pending": ("·", "dim"),
            "running": ("▶", "cyan"),
            "completed": ("✓", "green"),
            "error": ("✗", "red"),
        }.get(self.status, ("?", ""))
        line = Text.assemble((f"{mark} ", style), (self.tool, "bold"), f" {self.status}")
        if self.seconds is not None:
            line.append(f" {self.seconds:.1f}s", "dim")
        if self.summary:
            line.append(f"  {self.summary}", "dim")
        if self.error:
            line.append(f"  {self.error}", "red")
        return line


@dataclass(frozen=True)
class Note:
    text: str
    style: str = "yellow"


Item = Delta | ToolLine | Note


def _summary(tool: str, state: dict[str, Any]) -> str:
    args = state.get("input") or {}
    text = (
        args.get("command") if tool == "bash" else state.get("title") or json.dumps(args, ensure_ascii=False)
    )
    text = " ".join(str(text or "").split())
    return text if len(text) <= 100 else text[:99] + "…"


class Tracker:
    """The state of one session's run, rebuilt from its events."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.roles: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.tool_status: dict[str, str] = {}
        self.finished: set[str] = set()  # message ids whose final state was announced

    def mine(self, event: Event) -> bool:
        return event.session_id == self.session_id

    def feed(self, event: Event) -> list[Item]:
        if not self.mine(event):
            return []
        props = event.properties
        if event.type == "message.updated":
            info = props.get("info") or {}
            self.roles[info.get("id", "")] = info.get("role", "")
            if info.get("role") == "user" or info.get("error") or (info.get("time") or {}).get("completed"):
                self.finished.add(info.get("id", ""))
        elif event.type == "message.part.updated":
            return self._part(props.get("part") or {})
        elif event.type == "message.part.delta":
            assistant = self.roles.get(props.get("messageID", "")) == "assistant"
            if (
                assistant
                and props.get("field") == "text"
                and self.kinds.get(props.get("partID", "")) == "text"
            ):
                return [Delta(str(props.get("delta", "")))]
        elif event.type == "session.status":
            status = props.get("status") or {}
            if status.get("type") == "retry":
                return [Note(f"provider retry {status.get('attempt', '?')}: {status.get('message', '')}")]
        return []

    def _part(self, part: dict[str, Any]) -> list[Item]:
        self.kinds[part.get("id", "")] = part.get("type", "")
        if part.get("type") != "tool":
            return []
        state = part.get("state") or {}
        status = str(state.get("status", ""))
        if self.tool_status.get(part["id"]) == status or status == "pending":
            return []
        self.tool_status[part["id"]] = status
        times = state.get("time") or {}
        seconds = (times["end"] - times["start"]) / 1000 if "end" in times and "start" in times else None
        error = state.get("error") if status == "error" else None
        return [
            ToolLine(str(part.get("tool")), status, _summary(str(part.get("tool")), state), seconds, error)
        ]


class View(Protocol):
    def start(self) -> None: ...
    def show(self, item: Event | Gap, items: list[Item]) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self) -> None: ...


class PlainView:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._at_line_start = True

    def start(self) -> None:
        pass

    def _line(self, renderable: RenderableType) -> None:
        if not self._at_line_start:
            self.console.print()
        self.console.print(renderable, soft_wrap=True)
        self._at_line_start = True

    def show(self, item: Event | Gap, items: list[Item]) -> None:
        if isinstance(item, Gap):
            self._line(Text("(events were lost: the display may miss some output)", "yellow"))
        for it in items:
            if isinstance(it, Delta):
                self.console.print(it.text, end="", markup=False, highlight=False, soft_wrap=True)
                self._at_line_start = it.text.endswith("\n")
            elif isinstance(it, ToolLine):
                self._line(it.render())
            else:
                self._line(Text(it.text, it.style))

    def note(self, text: str) -> None:
        self._line(Text(text, "yellow"))

    def stop(self) -> None:
        if not self._at_line_start:
            self.console.print()
            self._at_line_start = True


class LiveView(PlainView):
    """Tool lines printed for good; the streaming text and the spinner in a transient area."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.started = time.monotonic()
        self.text = ""
        self.activity = "thinking"
        self.live = Live(console=console, transient=True, refresh_per_second=8, get_renderable=self._render)

    def _render(self) -> RenderableType:
        elapsed = time.monotonic() - self.started
        status = Spinner("dots", Text(f"{elapsed:5.1f}s  {self.activity}", "dim"))
        tail = "\n".join(self.text.rstrip("\n").splitlines()[-TEXT_TAIL_LINES:])
        return Group(Text(tail), status) if tail else status

    def start(self) -> None:
        self.live.start()

    def show(self, item: Event | Gap, items: list[Item]) -> None:
        if isinstance(item, Gap):
            self.live.console.print(Text("(events were lost: the display may miss some output)", "yellow"))
        for it in items:
            if isinstance(it, Delta):
                self.text += it.text
                self.activity = "writing"
                continue
            if self.text.strip():
                # Text before a tool call is part of the story: keep it. The last text is the
                # answer, printed on stdout at the end, so it stays transient.
                self.live.console.print(Text(self.text.strip()))
            self.text = ""
            if isinstance(it, ToolLine):
                self.live.console.print(it.render())
                self.activity = f"{it.tool} {it.summary}" if it.status == "running" else "thinking"
            else:
                self.live.console.print(Text(it.text, it.style))

    def note(self, text: str) -> None:
        self.activity = text

    def stop(self) -> None:
        self.live.stop()


class JsonView:
    """One JSON document per line on stdout: the session's events, then the answer."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def start(self) -> None:
        pass

    def write(self, document: Any) -> None:
        self.out.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.out.flush()

    def show(self, item: Event | Gap, items: list[Item]) -> None:
        self.write(item.wire())

    def note(self, text: str) -> None:
        pass

    def stop(self) -> None:
        pass
