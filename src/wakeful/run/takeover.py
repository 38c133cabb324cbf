"""Taking over a run whose server stopped: resume it from its last stored step, or close it.

A run becomes this server's when it takes it over (`RunStore.take_over`): a replica that saw its
lease expire (run/replicas.py), or a server alone starting after a crash with
`resume_interrupted` on. Its tool process groups are killed if they are on this machine, and the
permission requests it left are withdrawn (the resumed run asks again). Then:

- resumed, if resuming is on, the run is a prompt or a command (a `/shell` call is not redone), it
  has been resumed fewer than `max_resumes` times, its session was not aborted since it was claimed
  (an abort sent while its server was dead), and its agent and model still resolve: a tool
  call it left pending or running becomes a tool error the model reads (INTERRUPTED) and its step is
  completed as one that called tools; a step that was still streaming and called no tool is removed
  and asked again; the loop goes on from there, and every caller waiting for the run, on any server,
  gets its final answer;
- left as it is if it had in fact ended (its last step is complete and asks for no further step);
- otherwise closed as interrupted, as crash recovery has always closed runs (run/recovery.py).

A run's end stores its webhook deliveries (run/webhooks) whichever way it ends here: resumed, found
ended, or closed.
"""

from __future__ import annotations

import logging

from wakeful.errors import NotFoundError, RequestError
from wakeful.ids import now_ms
from wakeful.run.recovery import close_run, kill_processes, recover, report_end
from wakeful.run.runtime import Runtime
from wakeful.session.messages import MessageLog, replies_to
from wakeful.storage.base import RunRecord
from wakeful.wire.messages import MESSAGE_ADAPTER, PART_ADAPTER, UserMessage

log = logging.getLogger("wakeful.takeover")

INTERRUPTED = "interrupted: the server running it stopped"
RESUMABLE = ("prompt", "command")


async def resume_point(messages: MessageLog, run: RunRecord) -> int | None:
    """Make the stored run ready to go on; answer how many of its steps stay stored, or None if
    its last step ended the run (it is complete, and called no tool or failed)."""
    replies = replies_to(await messages.list_raw(run.session_id), run.message_id)
    if not replies:
        return 0
    last = replies[-1]
    info = last["info"]
    if info["time"].get("completed") is not None:
        ended = info.get("error") is not None or info.get("finish") != "tool-calls"
        return None if ended else len(replies)
    tools = [part for part in last["parts"] if part["type"] == "tool"]
    if not tools:
        await messages.delete(run.session_id, info["id"])
        return len(replies) - 1
    now = now_ms()
    for raw in tools:
        state = raw["state"]
        if state["status"] in ("pending", "running"):
            raw["state"] = {
                "status": "error",
                "input": state.get("input", {}),
                "error": INTERRUPTED,
                "time": {"start": state.get("time", {}).get("start", now), "end": now},
            }
            await messages.put_part(PART_ADAPTER.validate_python(raw))
    info["finish"] = "tool-calls"
    info["time"]["completed"] = now
    await messages.put_message(MESSAGE_ADAPTER.validate_python(info))
    return len(replies)


class Takeover:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def recover_all(self) -> None:
        runtime = self.runtime
        await runtime.permissions.recover()
        if not runtime.config.resumes_runs:
            await recover(runtime.store, runtime.messages, runtime.sessions, runtime.webhooks.run_ended)
            return
        for run in await runtime.store.unfinished_runs():
            if await runtime.store.take_over(run, runtime.instance, runtime.runs.cluster.host, 0):
                await self.adopt(run)

    async def adopt(self, run: RunRecord) -> None:
        runtime = self.runtime
        kill_processes(run)
        await runtime.permissions.withdraw_stale(run.session_id)
        if self._may_resume(run):
            try:
                steps = await resume_point(runtime.messages, run)
                if steps is None:
                    log.info("run %s had ended when its server stopped", run.message_id)
                    # Its server may have stopped before storing its webhooks (ids dedupe them).
                    await report_end(runtime.messages, run, runtime.webhooks.run_ended)
                    await self._ended(run)
                    return
                session = await runtime.sessions.get(run.session_id)
                stored = await runtime.messages.get_raw(run.session_id, run.message_id)
                if stored is None:
                    raise NotFoundError(f"Message not found: {run.message_id}")
                user = UserMessage.model_validate(stored["info"])
                # Loaded with the routes, after the server listens; a start-up adopting runs
                # (before it listens) loads it here.
                from wakeful.run.prompt import resume_run

                runtime.runs.resume(resume_run(runtime, session, run, user, steps), run.created)
                log.warning(
                    "resumed run %s of session %s after step %d (its server, instance %s, stopped)",
                    run.message_id,
                    run.session_id,
                    steps,
                    run.instance,
                )
                return
            except RequestError as exc:
                log.warning("run %s cannot be resumed: %s", run.message_id, exc.message)
        await close_run(runtime.store, runtime.messages, runtime.sessions, run, runtime.webhooks.run_ended)
        log.warning("closed interrupted run %s (its server, instance %s, stopped)", run.message_id, run.instance)
        await self._ended(run)

    def _may_resume(self, run: RunRecord) -> bool:
        config = self.runtime.config
        if not config.resumes_runs or run.kind not in RESUMABLE:
            return False
        if self.runtime.runs.aborted_since(run.session_id, run.created):
            log.warning("run %s: its session was aborted while its server was stopped", run.message_id)
            return False
        if run.resumes >= config.max_resumes:
            log.warning("run %s was resumed %d times already: not again", run.message_id, run.resumes)
            return False
        return True

    async def _ended(self, run: RunRecord) -> None:
        runs = self.runtime.runs
        await self.runtime.store.set_run_status(run.message_id, "done")
        runs.cluster.run_ended(run.message_id)
        if not runs.is_busy(run.session_id):
            # Servers that saw it busy on the stopped one learn that it is not any more.
            runs.set_status(run.session_id, {"type": "idle"})
