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

Replicas (`cluster.shared`, see run/replicas.py): a run claimed by another server and not done yet
is followed (`RemoteRun`: its answer is read from storage once the cluster says it is done); a run
waits its turn behind the session's earlier runs on other servers; an abort reaches every server;
a run taken over from a stopped server is resumed here at once (`resume`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

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
from wakeful.run.cluster import Cluster, LocalCluster
from wakeful.session.bus import EventBus
from wakeful.session.messages import MessageLog
from wakeful.session.sessions import Sessions
from wakeful.storage.base import RunRecord, RunStore
from wakeful.telemetry.metrics import Metrics

log = logging.getLogger("wakeful.runs")

Reply = dict[str, Any]  # {"info": ..., "parts": [...]}, the body of /message
ABORTS_KEPT = 10_000


class Executor:
    """What a run does. `prepare` reads what the run starts from, while the manager stores the run
    as running (the two overlap); `run` then produces the reply; `fail` stores a reply carrying
    `error` without doing the work (a queued run that was aborted, a run interrupted before it
    started), whether `prepare` ran or not."""

    async def prepare(self) -> None:
        pass

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
    plan: dict[str, Any] = field(default_factory=dict)  # stored with the claim: what resuming it needs
    callback: str | None = None  # the webhook URL of this run (`?callback=`), stored with its claim


class RunEnded(Protocol):
    async def __call__(self, session_id: str, message_id: str, callback: str | None, reply: Reply) -> None:
        """A run ended with `reply`; called before the run is marked done (webhooks store their
        deliveries here)."""
        ...


@dataclass(eq=False)
class RunHandle:
    request: RunRequest
    future: asyncio.Future[Reply] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    task: asyncio.Task[Reply] | None = None
    cancel_reason: RunError | None = None
    started: float = field(default_factory=time.monotonic)
    on_pgid: Callable[[list[int]], Awaitable[None]] | None = None
    created: int = 0  # when it was claimed (ms): the order of a session's runs across servers
    # Another server took it over: it stops without writing, and its callers follow it there.
    lost: bool = False
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

    @property
    def reply(self) -> asyncio.Future[Reply]:
        """The reply's future, to watch: only `cancel` stops the run."""
        return self.future

    async def wait(self) -> Reply:
        return await asyncio.shield(self.future)

    def cancel(self, reason: RunError) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.task is not None and not self.task.done():
            self.task.cancel()


@dataclass(eq=False)
class RemoteRun:
    """A run that another server runs, followed from here: its answer is read from storage once it
    is done, wherever it ran (the server that claimed it, or the one that took it over)."""

    message_id: str
    session_id: str
    task: asyncio.Task[Reply]

    def done(self) -> bool:
        return self.task.done()

    @property
    def reply(self) -> asyncio.Future[Reply]:
        """The reply's future, to watch (as `RunHandle.reply`)."""
        return self.task

    async def wait(self) -> Reply:
        return await asyncio.shield(self.task)

    def cancel(self, reason: RunError) -> None:
        """Nothing: only the server running it stops it (`POST /session/{id}/abort` reaches it)."""


class RunManager:
    def __init__(
        self,
        log: MessageLog,
        store: RunStore,
        bus: EventBus,
        instance: str,
        sessions: Sessions,
        metrics: Metrics,
        admission: Admission,
    ) -> None:
        self.log = log
        self.sessions = sessions  # a prompt and the end of its run each touch the session
        self._store = store
        self.bus = bus
        self.instance = instance
        self.metrics = metrics
        self.admission = admission
        self._live: dict[str, RunHandle] = {}
        # Lists, not deques: a deque costs 0.7 KiB however short, and a session's queue is short.
        self._queues: dict[str, list[RunHandle]] = {}
        self._current: dict[str, RunHandle] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        # Weak: a session's lock lives exactly as long as some submission holds or awaits it, so a
        # late submission can never get a second lock for the same session.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._status: dict[str, dict[str, Any]] = {}
        self.accepting = True
        self.on_end: RunEnded | None = None
        self.cluster: Cluster = LocalCluster()  # the runtime sets the replicas' one
        # Runs taken over from a stopped server, each in a task of its own (not a session's queue).
        self._adopted: dict[str, tuple[RunHandle, asyncio.Task[None]]] = {}
        self._following: set[asyncio.Task[Reply]] = set()
        self._remote_status: dict[str, dict[str, Any]] = {}  # sessions busy on other servers
        # When each session was last aborted (ms): a run of it claimed before, whose server stopped
        # before it heard of the abort, is not resumed. The oldest are forgotten first.
        self._aborted: OrderedDict[str, int] = OrderedDict()
        metrics.runs_running.set_function(lambda: len(self._current) + len(self._adopted))
        metrics.run_queue_depth.set_function(lambda: sum(len(q) for q in self._queues.values()))
        metrics.draining.set_function(lambda: 0 if self.accepting else 1)

    # --- status -----------------------------------------------------------------------------------

    def statuses(self) -> dict[str, dict[str, Any]]:
        return {**self._remote_status, **self._status}

    def note_remote_status(self, session_id: str, status: dict[str, Any]) -> None:
        """A `session.status` another server published."""
        if status.get("type") == "idle":
            self._remote_status.pop(session_id, None)
        else:
            self._remote_status[session_id] = status

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

    def live_here(self) -> set[str]:
        """The message ids of the runs this server has accepted and not finished (queued included)."""
        return set(self._live)

    def current(self, session_id: str) -> RunHandle | None:
        """The run going on in the session on this server: its queue's, or one taken over."""
        adopted = self._adopted_of(session_id)
        return self._current.get(session_id) or (adopted[0][0] if adopted else None)

    async def stored(self, message_id: str) -> RunRecord | None:
        """The claim of the prompt `message_id`, live or finished, from this server or an earlier one."""
        return await self._store.get_run(message_id)

    async def record_processes(self, message_id: str, pgids: list[int]) -> None:
        """The tool process groups the run has open, for crash recovery to kill."""
        await self._store.set_run_pgids(message_id, pgids)

    # --- submission -------------------------------------------------------------------------------

    async def submit(self, request: RunRequest) -> RunHandle | RemoteRun | Reply:
        """A handle to wait on, or the stored reply of a run that already finished."""
        # Counted until the route answers: its headers go out in the same step as this returns.
        with self.admission.accepting():
            return await self._submit(request)

    async def _submit(self, request: RunRequest) -> RunHandle | RemoteRun | Reply:
        lock = self._locks.get(request.session_id)
        if lock is None:
            lock = self._locks[request.session_id] = asyncio.Lock()
        async with lock:
            live = self._live.get(request.message_id)
            if live is not None:
                self._check_same(live.request.body_hash, request)
                return live
            refusal = self._refusal(request)
            if refusal is not None:
                # A retry of a stored run still gets its answer; the claim below never runs.
                existing = await self._store.get_run(request.message_id)
                if existing is None:
                    raise refusal
                self._check_same(existing.body_hash, request)
                return await self._attach(existing)
            self.admission.refuse_if_full(len(self._live))
            record = RunRecord(
                message_id=request.message_id,
                session_id=request.session_id,
                kind=request.kind,
                body_hash=request.body_hash,
                instance=self.instance,
                created=now_ms(),
                lease_until=self.cluster.lease_until(),
                host=self.cluster.host,
                plan=request.plan,
                callback=request.callback,
            )
            # The one awaited write: a used id (a retry, another process's claim) comes back instead.
            claimed = await self._store.claim_run(record, request.user_message, request.user_parts)
            if claimed is not None:
                self._check_same(claimed.body_hash, request)
                return await self._attach(claimed)
            handle = RunHandle(request, created=record.created)
            self._live[request.message_id] = handle
            # The claim stored the user message; announce it like any other write.
            self.log.announce_message(request.user_message)
            for part in request.user_parts:
                self.log.announce_part(part)
            self._queues.setdefault(request.session_id, []).append(handle)
            if not self.is_busy(request.session_id):
                self.set_status(request.session_id, {"type": "busy"})
            if request.session_id not in self._workers:
                worker = asyncio.create_task(
                    self._work(request.session_id), name=f"session {request.session_id}"
                )
                self._workers[request.session_id] = worker
            return handle

    def _refusal(self, request: RunRequest) -> Exception | None:
        if not self.accepting:
            return ServiceUnavailableError("The server is shutting down", retry_after=5)
        if request.exclusive and self.is_busy(request.session_id):
            return SessionBusyError(request.session_id)
        return None

    async def _attach(self, run: RunRecord) -> RemoteRun | Reply:
        """A claim that is not live here: followed while another server runs it, else its answer."""
        if run.status != "done" and self.cluster.shared:
            return self._follow(run)
        return await self.log.answer(run.session_id, run.message_id)

    def _follow(self, run: RunRecord) -> RemoteRun:
        async def answer() -> Reply:
            await self.cluster.finished(run.message_id)
            return await self.log.answer(run.session_id, run.message_id)

        task = asyncio.create_task(answer(), name=f"follow {run.message_id}")
        self._following.add(task)
        task.add_done_callback(self._following.discard)
        return RemoteRun(run.message_id, run.session_id, task)

    async def follow(self, session_id: str, message_id: str) -> RunHandle | RemoteRun | Reply | None:
        """What `/reply` waits on: the run live here, a run going on elsewhere, or the stored answer;
        None if the session has no such prompt."""
        handle = self._live.get(message_id)
        if handle is not None:
            return handle if handle.session_id == session_id else None
        run = await self._store.get_run(message_id)
        if run is None or run.session_id != session_id:
            return None
        return await self._attach(run)

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
                handle = queue.pop(0)
                self._current[session_id] = handle
                try:
                    # A run's first writes wait until a burst of arriving prompts has been accepted.
                    await self.admission.settled()
                    with contextlib.suppress(Exception):  # the prompt's arrival, behind its headers
                        await self.sessions.touch(session_id)
                    outcome = await asyncio.create_task(self._observed(handle), context=handle.origin)
                    await self._report_end(handle, outcome)
                finally:
                    self._current.pop(session_id, None)
                    await self._ended(handle)
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

    async def _report_end(self, handle: RunHandle, outcome: Reply | BaseException) -> None:
        if self.on_end is None or isinstance(outcome, BaseException) or handle.lost:
            # A lost run's end is reported by the server that took it over.
            return
        try:
            await self.on_end(handle.session_id, handle.message_id, handle.request.callback, outcome)
        except Exception:
            log.exception("run %s: what its end starts could not be stored", handle.message_id)

    async def _ended(self, handle: RunHandle) -> None:
        self._live.pop(handle.message_id, None)
        if handle.lost:
            return

        async def done() -> None:
            with contextlib.suppress(Exception):
                await self._store.set_run_status(handle.message_id, "done")
                self.cluster.run_ended(handle.message_id)

        async def touched() -> None:
            with contextlib.suppress(Exception):
                await self.sessions.touch(handle.session_id)

        # Independent writes: the touch's read overlaps the status write instead of following it.
        await asyncio.gather(done(), touched())

    def _release(self, session_id: str) -> None:
        if self._workers.get(session_id) is asyncio.current_task():
            self._workers.pop(session_id, None)
            self._queues.pop(session_id, None)
            if self.is_busy(session_id) and not self._adopted_of(session_id):
                self.set_status(session_id, {"type": "idle"})

    def _adopted_of(self, session_id: str) -> list[tuple[RunHandle, asyncio.Task[None]]]:
        return [entry for entry in self._adopted.values() if entry[0].session_id == session_id]

    # --- runs taken over ------------------------------------------------------------------------

    def resume(self, request: RunRequest, created: int) -> RunHandle:
        """Run a claimed run that this server just took over from a stopped one (run/takeover.py).
        It starts at once, in a task of its own: it was running already, so nothing queued here is
        ahead of it, and `turn` still orders it behind the session's earlier runs elsewhere."""
        handle = RunHandle(request, created=created)
        self._live[request.message_id] = handle
        if not self.is_busy(request.session_id):
            self.set_status(request.session_id, {"type": "busy"})
        task = asyncio.create_task(self._run_adopted(handle), name=f"resumed {request.message_id}")
        self._adopted[request.message_id] = (handle, task)
        return handle

    async def _run_adopted(self, handle: RunHandle) -> None:
        try:
            outcome = await self._observed(handle)
            await self._report_end(handle, outcome)
        finally:
            self._adopted.pop(handle.message_id, None)
            await self._ended(handle)
            session_id = handle.session_id
            if session_id not in self._workers and not self._adopted_of(session_id) and self.is_busy(session_id):
                self.set_status(session_id, {"type": "idle"})
        if isinstance(outcome, BaseException):
            handle.future.set_exception(outcome)
        else:
            handle.future.set_result(outcome)

    def lost(self, message_ids: Iterable[str]) -> None:
        """Another server took these runs over (their leases were not renewed in time): stop them
        here without writing anything more; their callers here follow them there."""
        for message_id in message_ids:
            handle = self._live.get(message_id)
            if handle is not None:
                log.error("run %s was taken over by another server; stopping it here", message_id)
                handle.lost = True
                handle.cancel(UnknownRunError("Another server took the run over"))

    def aborted_since(self, session_id: str, created: int) -> bool:
        """Whether the session was aborted (here, or on another server that told this one) after a
        run claimed at `created` (ms)."""
        return self._aborted.get(session_id, -1) >= created

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
            if handle.lost:
                return await self._follow(await self._store_run(handle)).wait()
            if handle.cancel_reason is not None:
                return await request.executor.fail(handle, handle.cancel_reason)
            handle.task = asyncio.create_task(self._run(handle), name=f"run {request.message_id}")
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
                if handle.lost:
                    return await self._follow(await self._store_run(handle)).wait()
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

    async def _store_run(self, handle: RunHandle) -> RunRecord:
        return await self._store.get_run(handle.message_id) or RunRecord(
            handle.message_id, handle.session_id, handle.request.kind, handle.request.body_hash
        )

    async def _run(self, handle: RunHandle) -> Reply:
        """The executor's run once it is the session's turn across replicas and a slot is free: in
        the handle's task, so a cancel reaches a run that still waits for either."""
        request = handle.request
        await self.cluster.turn(request.session_id, request.message_id, handle.created)
        async with self.admission.slot():
            await asyncio.gather(
                self._store.set_run_status(request.message_id, "running"), request.executor.prepare()
            )
            return await request.executor.run(handle)

    # --- abort and shutdown -----------------------------------------------------------------------

    async def abort(self, session_id: str, reason: str = "Aborted", *, here_only: bool = False) -> bool:
        """Stop the running prompt and every queued one, here and (replicas, unless `here_only`) on
        every other server, and return once the session is idle; True if anything was stopped here."""
        self._aborted[session_id] = now_ms()
        self._aborted.move_to_end(session_id)
        while len(self._aborted) > ABORTS_KEPT:
            self._aborted.popitem(last=False)
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
        for handle, task in self._adopted_of(session_id):
            handle.cancel(MessageAbortedError(reason))
            stopped = True
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
        if self.cluster.shared and not here_only:
            await self.cluster.abort(session_id, reason)
            await self.idle(session_id)
        return stopped

    def stop_accepting(self) -> None:
        self.accepting = False

    async def drain(self, timeout: float, reason: str) -> None:
        """Let runs finish for `timeout` seconds, then cancel the rest with a stored error."""
        # Calls following another server's run (replicas) get the same time as the runs here.
        tasks = [*self._workers.values(), *(task for _, task in self._adopted.values()), *self._following]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                # abort() returns once each session's runs have finished writing their errors.
                sessions = {*self._workers, *(handle.session_id for handle, _ in self._adopted.values())}
                await asyncio.gather(*(self.abort(s, reason, here_only=True) for s in sessions))
        for task in list(self._following):
            task.cancel()

    async def idle(self, session_id: str) -> None:
        """Return once the session has nothing running or queued (replicas: on any server)."""
        while True:
            while (worker := self._workers.get(session_id)) is not None:
                await asyncio.shield(worker)
            if adopted := self._adopted_of(session_id):
                await asyncio.wait([task for _, task in adopted])
                continue
            if not self.cluster.shared:
                return
            pending = await self._store.unfinished_runs(session_id)
            if not pending:
                return
            await self.cluster.finished(pending[0].message_id)


def _outcome(outcome: Reply | BaseException) -> str:
    """A finished run as a metric label: success, aborted (abort, deadline, shutdown) or error."""
    if isinstance(outcome, BaseException):
        return "error"
    error = outcome["info"].get("error")
    if error is None:
        return "success"
    return "aborted" if error.get("name") == MessageAbortedError.name else "error"
