"""`wakeful session list|show|delete`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from rich.console import Console
from rich.text import Text

from wakeful.cli.target import Target, client_options
from wakeful.client import Client, ClientError, Reply
from wakeful.wire.sessions import Session

Format = Literal["text", "json"]


def _with_client(target: Target, work: Callable[[Client, Console], None]) -> int:
    err = Console(stderr=True, highlight=False)
    try:
        with target.open() as url, Client(url, retries=1, **client_options()) as client:
            work(client, Console(highlight=False))
    except ClientError as exc:
        err.print(Text(f"wakeful: {exc}", "red"), soft_wrap=True)
        return 1
    return 0


def _json(document: Any) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=2))


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def list_sessions(target: Target, fmt: Format, limit: int | None) -> int:
    def work(client: Client, out: Console) -> None:
        sessions = client.list_sessions(limit=limit)
        if fmt == "json":
            _json([s.wire() for s in sessions])
            return
        # Ids are for pasting into `session show`, so they come first and whole; a line too long
        # for the terminal loses the end of its title instead.
        width = max((len(s.id) for s in sessions), default=2)
        out.print(Text(f"{'id':<{width}}  {'updated':<16}  title", "bold"), no_wrap=True, overflow="ellipsis")
        for s in sessions:
            line = f"{s.id:<{width}}  {_when(s.time.updated)}  {s.title}"
            out.print(line, markup=False, no_wrap=True, overflow="ellipsis")

    return _with_client(target, work)


def show_session(target: Target, fmt: Format, session_id: str) -> int:
    def work(client: Client, out: Console) -> None:
        session = client.get_session(session_id)
        messages = client.messages(session_id)
        if fmt == "json":
            _json({"info": session.wire(), "messages": [m.wire() for m in messages]})
            return
        _print_session(out, session, messages)

    return _with_client(target, work)


def delete_session(target: Target, fmt: Format, session_id: str) -> int:
    def work(client: Client, out: Console) -> None:
        deleted = client.delete_session(session_id)
        if fmt == "json":
            _json(deleted)
        else:
            out.print(f"deleted {session_id}")

    return _with_client(target, work)


def _print_session(out: Console, session: Session, messages: list[Reply]) -> None:
    out.print(Text(session.title, "bold"))
    out.print(Text(f"{session.id} · {session.directory} · updated {_when(session.time.updated)}", "dim"))
    for message in messages:
        info = message.info
        out.print()
        out.print(Text(f"{info.role} · {info.id} · {_when(info.time.created)}", "bold cyan"))
        error = getattr(info, "error", None)
        for part in message.parts:
            if part.type == "text" and not part.synthetic:
                out.print(part.text, markup=False)
            elif part.type == "tool":
                state = part.state
                detail = state.input.get("command") if part.tool == "bash" else json.dumps(state.input)
                out.print(Text.assemble((f"[{part.tool} {state.status}] ", "yellow"), str(detail or "")))
                if state.status == "completed" and state.output.strip():
                    out.print(Text(_clip(state.output), "dim"))
                elif state.status == "error":
                    out.print(Text(state.error, "red"))
        if error:
            data = error.get("data") or {}
            out.print(Text(f"{error.get('name')}: {data.get('message', '')}", "red"))


def _clip(text: str, lines: int = 20) -> str:
    rows = text.rstrip("\n").splitlines()
    if len(rows) <= lines:
        return "\n".join(rows)
    return "\n".join([*rows[:lines], f"… ({len(rows) - lines} more lines)"])
