"""Crash recovery: runs that a dead server left unfinished are closed.

On a server alone (SQLite), the data directory's lock says that every unfinished run found at start
belongs to a server that is gone: `recover` closes them all. Closing one (`close_run`, also what a
replica does with a run it took over and may not resume, run/takeover.py): its recorded tool process
groups are killed if they are on this machine (`kill_processes`), its open assistant message (or a
new one) gets an UnknownError saying the run was interrupted, running tools are marked failed, and
the run is marked done; its session is idle because nothing runs it.
"""

from __future__ import annotations

import logging
import signal

from wakeful.errors import NotFoundError, UnknownRunError
from wakeful.ids import now_ms
from wakeful.run.cluster import machine
from wakeful.run.manager import RunEnded
from wakeful.session.messages import MessageLog, replies_to
from wakeful.session.sessions import Sessions
from wakeful.storage.base import RunRecord, RunStore
from wakeful.tools.bash import signal_group
from wakeful.wire.messages import MESSAGE_ADAPTER, PART_ADAPTER, AssistantMessage

log = logging.getLogger("wakeful.recovery")


async def recover(
    store: RunStore, messages: MessageLog, sessions: Sessions, on_end: RunEnded | None = None
) -> int:
    """Close every unfinished run, each ending as a run does (`on_end`, before it is marked done);
    answers how many there were."""
    runs = await store.unfinished_runs()
    for run in runs:
        kill_processes(run)
        await close_run(store, messages, sessions, run, on_end)
    if runs:
        log.warning("recovered %d interrupted run(s)", len(runs))
    return len(runs)


def kill_processes(run: RunRecord) -> None:
    """Kill the tool process groups the run recorded, if they are this machine's (a run recorded
    before hosts were, on a server alone, is)."""
    if run.host in ("", machine()):
        for pgid in run.pgids:
            signal_group(pgid, signal.SIGKILL)


async def close_run(
    store: RunStore, messages: MessageLog, sessions: Sessions, run: RunRecord, on_end: RunEnded | None = None
) -> None:
    """End the run as interrupted, as a run ends (`on_end`, before it is marked done), and mark it
    done."""
    if await _close(messages, sessions, run) and on_end is not None:
        await report_end(messages, run, on_end)
    await store.set_run_status(run.message_id, "done")


async def report_end(messages: MessageLog, run: RunRecord, on_end: RunEnded) -> None:
    """Tell `on_end` the stored answer of a run this server did not see end (it closed it, or found
    it ended). A failure is logged: the run is still marked done."""
    try:
        reply = await messages.answer(run.session_id, run.message_id)
        await on_end(run.session_id, run.message_id, run.callback, reply)
    except Exception:
        log.exception("run %s: what its end starts could not be stored", run.message_id)


async def _close(messages: MessageLog, sessions: Sessions, run: RunRecord) -> bool:
    """Written through the MessageLog like any other write, so each change is announced too. False
    if the run's prompt is gone (nothing to close)."""
    error = UnknownRunError(
        f"The run was interrupted: the server that ran it (instance {run.instance}) stopped before it finished"
    ).to_info()
    now = now_ms()
    stored = await messages.list_raw(run.session_id)
    user = next((m for m in stored if m["info"]["id"] == run.message_id), None)
    if user is None:
        return False
    replies = replies_to(stored, run.message_id)
    for entry in replies:
        for raw in entry["parts"]:
            state = raw.get("state")
            if raw["type"] == "tool" and state and state["status"] in ("pending", "running"):
                start = state.get("time", {}).get("start", now)
                raw["state"] = {
                    "status": "error",
                    "input": state.get("input", {}),
                    "error": "Interrupted",
                    "time": {"start": start, "end": now},
                }
                await messages.put_part(PART_ADAPTER.validate_python(raw))
    if replies:
        last = replies[-1]["info"]
        if last.get("error") is None or last.get("time", {}).get("completed") is None:
            last["error"] = error
            last["time"]["completed"] = now
            await messages.put_message(MESSAGE_ADAPTER.validate_python(last))
        return True
    user_info = user["info"]
    try:
        directory = (await sessions.get(run.session_id)).directory
    except NotFoundError:
        directory = ""
    message = AssistantMessage.answering(
        run.session_id,
        run.message_id,
        user_info["model"]["providerID"],
        user_info["model"]["modelID"],
        user_info["agent"],
        directory,
    )
    message.error = error
    message.time.created = message.time.completed = now
    await messages.put_message(message)
    return True
