"""The run manager: owns every agent run, one prompt at a time per session.

A route submits a `RunRequest` and gets a `RunHandle`; the run itself is a task in this registry,
never inside a request, so a client that disconnects does not stop it and shutdown can find and
await every run. Each session has a FIFO queue worked by one worker task; a queued prompt is not part
of any earlier run's history, and each caller's handle resolves to the reply to its own prompt.

Idempotency: the user message id is the run's key. Submissions for a session are serialised by a
per-session lock, inside which a live run with that key is attached to, a finished one answers from
storage, and a new one is claimed in the same transaction that stores its user message. A different
body under a used key is a ConflictError.

Acceptance is cheap on purpose (the route answers its headers right after `submit`): the claim is
the only store work awaited; touching the session, building the run and taking an admission slot
(run/admission.py) happen in the session's worker, behind the headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wakeful.errors import (
    ConflictError,
    MessageAbortedError,
    RunError,
    ServiceUnavailableError,
    SessionBusyError,
    UnknownRunError,
)
from wakeful.ids import now_ms
from wakeful.run.admission import Admission
from wakeful.session.bus import EventBus
from wakeful.session.messages import MessageLog
from wakeful.session.sessions import Sessions
from wakeful.storage.base import RunRecord, RunStore
from wakeful.telemetry.metrics import Metrics

log = logging.getLogger("wakeful.runs")

Reply = dict[str, Any]  # {"info": ..., "parts": [...]}, the body of /message


class Executor:
    """What a run does. `run` produces the reply; `fail` stores a reply carrying `error` without
    doing the work (a queued run that was aborted, a run interrupted before it started)."""

    async def run(self, handle: RunHandle) -> Reply:
        raise NotImplementedError

    async def fail(self, handle: RunHandle, error: RunError) -> Reply:
        raise NotImplementedError


@dataclass
class RunRequest:
    session_id: str
    message_id: str
    kind: str  # "prompt" | "command" | "shell"
    body_hash: str
    user_message: dict[str, Any]
    user_parts: list[dict[str, Any]]
    executor: Executor
    exclusive: bool = False  # /shell: refuse (409) instead of queueing behind a busy session
    deadline: float | None = None


@dataclass(eq=False)
class RunHandle:
    request: RunRequest
    future: asyncio.Future[Reply] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    task: asyncio.Task[Reply] | None = None
    cancel_reason: RunError | None = None
    started: float = field(default_factory=time.monotonic)
    on_pgid: Callable[[list[int]], Awaitable[None]] | None = None
    # The context of the request that submitted the run, which the run executes in: its log lines
    # carry that request's id and its spans continue that request's trace, whichever request
    # started the session's worker.
    origin: contextvars.Context = field(default_factory=contextvars.copy_context)

    @property
    def message_id(self) -> str:
        return self.request.message_id

    @property
    def session_id(self) -> str:
        return self.request.session_id

    def done(self) -> bool:
        return self.future.done()

    async def wait(self) -> Reply:
        return await asyncio.shield(self.future)

    def cancel(self, reason: RunError) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.task is not None and not self.task.done():
            self.task.cancel()


class RunManager:
    def __init__(
        self,
        log: MessageLog,
        store: RunStore,
        bus: EventBus,
        instance: str,
        sessions: Sessions,
        metrics: Metrics,
        admission: Admission | None = None,
    ) -> None:
        self.log = log
        self.sessions = sessions  # a prompt and the end of its run each touch the session
        self._store = store
        self.bus = bus
        self.instance = instance
        self.metrics = metrics
        self.admission = admission or Admission(max_running=256)
        self._live: dict[str, RunHandle] = {}
        self._queues: dict[str, deque[RunHandle]] = {}
        self._current: dict[str, RunHandle] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        # Weak: a session's lock lives exactly as long as some submission holds or awaits it, so a
        # late submission can never get a second lock for the same session.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._status: dict[str, dict[str, Any]] = {}
        self.accepting = True
        metrics.runs_running.set_function(lambda: len(self._current))
        metrics.run_queue_depth.set_function(lambda: sum(len(q) for q in self._queues.values()))
        metrics.draining.set_function(lambda: 0 if self.accepting else 1)

    # --- status -----------------------------------------------------------------------------------

    def statuses(self) -> dict[str, dict[str, Any]]:
        return dict(self._status)

    def is_busy(self, session_id: str) -> bool:
        return session_id in self._status

    def set_status(self, session_id: str, status: dict[str, Any]) -> None:
        if status["type"] == "idle":
            self._status.pop(session_id, None)
        else:
            self._status[session_id] = status
        self.bus.publish("session.status", {"sessionID": session_id, "status": status})
        if status["type"] == "idle":
            self.bus.publish("session.idle", {"sessionID": session_id})

    def live(self, message_id: str) -> RunHandle | None:
        return self._live.get(message_id)

    def current(self, session_id: str) -> RunHandle | None:
        return self._current.get(session_id)

    async def stored(self, message_id: str) -> RunRecord | None:
        """The claim of the prompt `message_id`, live or finished, from this server or an earlier one."""
        return await self._store.get_run(message_id)

    async def record_processes(self, message_id: str, pgids: list[int]) -> None:
        """The tool process groups the run has open, for crash recovery to kill."""
        await self._store.set_run_pgids(message_id, pgids)

    # --- submission -------------------------------------------------------------------------------

    async def submit(self, request: RunRequest) -> RunHandle | Reply:
        """A handle to wait on, or the stored reply of a run that already finished."""
        lock = self._locks.get(request.session_id)
        if lock is None:
            lock = self._locks[request.session_id] = asyncio.Lock()
        async with lock:
            live = self._live.get(request.message_id)
            if live is not None:
                self._check_same(live.request.body_hash, request)
                return live
            if not self.accepting:
                raise ServiceUnavailableError("The server is shutting down", retry_after=5)
            if request.exclusive and self.is_busy(request.session_id):
                raise SessionBusyError(request.session_id)
            self.admission.refuse_if_full(len(self._live))
            record = RunRecord(
                message_id=request.message_id,
                session_id=request.session_id,
                kind=request.kind,
                body_hash=request.body_hash,
                instance=self.instance,
                created=now_ms(),
            )
            # The one awaited write: a used id (a retry, another process's claim) comes back instead.
            claimed = await self._store.claim_run(record, request.user_message, request.user_parts)
            if claimed is not None:
                self._check_same(claimed.body_hash, request)
                return await self.log.answer(claimed.session_id, claimed.message_id)
            handle = RunHandle(request)
            self._live[request.message_id] = handle
            self.admission.accepted()
            # The claim stored the user message; announce it like any other write.
            self.log.announce_message(request.user_message)
            for part in request.user_parts:
                self.log.announce_part(part)
            self._queues.setdefault(request.session_id, deque()).append(handle)
            if not self.is_busy(request.session_id):
                self.set_status(request.session_id, {"type": "busy"})
            if request.session_id not in self._workers:
                worker = asyncio.create_task(
                    self._work(request.session_id), name=f"session {request.session_id}"
                )
                self._workers[request.session_id] = worker
            return handle

    @staticmethod
    def _check_same(known_hash: str, request: RunRequest) -> None:
        if known_hash != request.body_hash:
            raise ConflictError(
                f"messageID {request.message_id} was already used with a different request; "
                "send a new messageID to run again",
                resource=request.message_id,
            )

    # --- execution --------------------------------------------------------------------------------

    async def _work(self, session_id: str) -> None:
        queue = self._queues[session_id]
        try:
            while queue:
                handle = queue.popleft()
                self._current[session_id] = handle
                try:
                    with contextlib.suppress(Exception):  # the prompt's arrival, behind its headers
                        await self.sessions.touch(session_id)
                    outcome = await asyncio.create_task(self._observed(handle), context=handle.origin)
                finally:
                    self._current.pop(session_id, None)
                    self._live.pop(handle.message_id, None)
                    with contextlib.suppress(Exception):
                        await self._store.set_run_status(handle.message_id, "done")
                    with contextlib.suppress(Exception):
                        await self.sessions.touch(session_id)
                if not queue:
                    # The session is idle before its last caller hears the answer, so a client that
                    # checks the status right after its reply never sees "busy".
                    self._release(session_id)
                if isinstance(outcome, BaseException):
                    handle.future.set_exception(outcome)
                else:
                    handle.future.set_result(outcome)
        finally:
            self._release(session_id)

    def _release(self, session_id: str) -> None:
        if self._workers.get(session_id) is asyncio.current_task():
            self._workers.pop(session_id, None)
            self._queues.pop(session_id, None)
            if self.is_busy(session_id):
                self.set_status(session_id, {"type": "idle"})

    async def _observed(self, handle: RunHandle) -> Reply | BaseException:
        """`_execute`, logged and measured; in the context of the request that submitted the run."""
        request = handle.request
        began = time.monotonic()
        self.metrics.run_queue_wait.labels(request.kind).observe(began - handle.started)
        log.info("run %s started: %s in session %s", request.message_id, request.kind, request.session_id)
        outcome = await self._execute(handle)
        seconds = time.monotonic() - began
        result = _outcome(outcome)
        self.metrics.runs.labels(request.kind, result).inc()
        self.metrics.run_duration.labels(request.kind, result).observe(seconds)
        log.info("run %s ended: %s after %.3f s", request.message_id, result, seconds)
        return outcome

    async def _execute(self, handle: RunHandle) -> Reply | BaseException:
        """Run one handle to its reply; the executor stores its own errors."""
        request = handle.request
        deadline_timer: asyncio.TimerHandle | None = None
        try:
            if handle.cancel_reason is not None:
                return await request.executor.fail(handle, handle.cancel_reason)
            await self._store.set_run_status(request.message_id, "running")
            handle.task = asyncio.create_task(self._admitted(handle), name=f"run {request.message_id}")
            if request.deadline:
                deadline_timer = asyncio.get_running_loop().call_later(
                    request.deadline,
                    handle.cancel,
                    MessageAbortedError(f"Run exceeded its deadline of {request.deadline:g} s"),
                )
            try:
                return await asyncio.shield(handle.task)
            except asyncio.CancelledError:
                if not handle.task.cancelled():
                    raise  # the worker itself is being cancelled
                return await request.executor.fail(handle, handle.cancel_reason or MessageAbortedError())
        except Exception as exc:  # the last resort: an executor that could not store its error
            log.exception("run %s failed", request.message_id)
            try:
                return await request.executor.fail(handle, UnknownRunError(f"{type(exc).__name__}: {exc}"))
            except Exception as inner:
                return inner
        finally:
            if deadline_timer is not None:
                deadline_timer.cancel()

    async def _admitted(self, handle: RunHandle) -> Reply:
        """The executor's run, once admitted: in the handle's task, so a cancel reaches a run that
        still waits for its slot."""
        async with self.admission.slot():
            return await handle.request.executor.run(handle)

    # --- abort and shutdown -----------------------------------------------------------------------

    async def abort(self, session_id: str, reason: str = "Aborted") -> bool:
        """Stop the running prompt and every queued one; True if anything was stopped."""
        stopped = False
        for handle in list(self._queues.get(session_id, ())):
            handle.cancel_reason = handle.cancel_reason or MessageAbortedError(reason)
            stopped = True
        current = self._current.get(session_id)
        if current is not None and not current.done():
            current.cancel(MessageAbortedError(reason))
            stopped = True
        worker = self._workers.get(session_id)
        if worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(worker)
        return stopped

    def stop_accepting(self) -> None:
        self.accepting = False

    async def drain(self, timeout: float, reason: str) -> None:
        """Let runs finish for `timeout` seconds, then cancel the rest with a stored error."""
        workers = list(self._workers.values())
        if workers:
            _, pending = await asyncio.wait(workers, timeout=timeout)
            if pending:
                # abort() returns once each session's worker has finished writing its errors.
                await asyncio.gather(*(self.abort(s, reason) for s in list(self._workers)))

    async def idle(self, session_id: str) -> None:
        """Return once the session has nothing running or queued."""
        while (worker := self._workers.get(session_id)) is not None:
            await asyncio.shield(worker)


def _outcome(outcome: Reply | BaseException) -> str:
    """A finished run as a metric label: success, aborted (abort, deadline, shutdown) or error."""
    if isinstance(outcome, BaseException):
        return "error"
    error = outcome["info"].get("error")
    if error is None:
        return "success"
    return "aborted" if error.get("name") == MessageAbortedError.name else "error"
