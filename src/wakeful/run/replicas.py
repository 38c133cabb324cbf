"""Replicas: any number of servers on one PostgreSQL database, each accepting any call.

Invariants:
- Every unfinished run has one owner (`runs.instance`) holding a lease until `runs.lease_until`. The
  owner renews the leases of the runs live in it every third of `lease_seconds`; a run that another
  server took over meanwhile is stopped here (`RunManager.lost`).
- Every `lease_seconds / 4`, each server looks for unfinished runs whose lease expired and takes
  each over with a conditional UPDATE on the owner and lease it read (`RunStore.take_over`): exactly
  one server wins a run, and resumes or closes it (run/takeover.py). A server starting takes over
  what has expired before it serves. Leases are in the servers' wall clocks: keep them in sync (NTP)
  to well within the lease.
- Servers tell each other what happened through the mailbox (storage/mailbox.py): each event the
  bus publishes here (`event`), a run stored as done (`done`), an abort of a session (`abort`), a
  reply to a permission request that a run elsewhere waits for (`permission`), a change the API
  made to a project's MCP servers, which every server makes to its own connections (`mcp`). Letters
  are numbered per sender and read in that order; NOTIFY carries only the sender and number. A
  server reads the letters of every other sender after the last one it read: after every
  notification, and after its listening connection is reopened (nothing is skipped while letters
  are retained).
- Events from other servers keep their ids, so a client's Last-Event-ID means the same everywhere.
- Whoever waits for a run (a retry of its messageID, `/reply`, `/wait`, an abort, a session's next
  run waiting its turn) is woken by its `done` letter, or by a check of the stored status after a
  reconnection and at every scan, so a lost notification delays a wake-up but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from wakeful.backoff import backoff_delay
from wakeful.config import ServerConfig
from wakeful.ids import now_ms
from wakeful.mcp.changes import CHANGE, McpChange
from wakeful.mcp.manager import McpManager
from wakeful.project.config import ProjectConfigs
from wakeful.run.cluster import Takeover, machine
from wakeful.run.manager import RunManager
from wakeful.run.permissions import Permissions
from wakeful.session.bus import Event, EventBus
from wakeful.storage.base import RunStore
from wakeful.storage.mailbox import Letter, Mailbox, notification
from wakeful.storage.postgres import Listener
from wakeful.wire.permissions import Reply

log = logging.getLogger("wakeful.replicas")

MAX_BATCH = 100  # letters per transaction (each is encoded on the loop)
MAX_OUTBOX = 100_000  # letters kept while the database cannot be written; the oldest go first
PRUNE_EVERY = 40  # scans


class Replicas:
    shared = True

    def __init__(
        self,
        config: ServerConfig,
        instance: str,
        store: RunStore,
        mailbox: Mailbox,
        bus: EventBus,
        runs: RunManager,
        permissions: Permissions,
        mcp: McpManager,
        projects: ProjectConfigs,
    ) -> None:
        assert config.database_url is not None
        self.instance = instance
        self._config = config
        self._lease = config.lease_seconds
        self._store = store
        self._mailbox = mailbox
        self._bus = bus
        self._runs = runs
        self._permissions = permissions
        self._mcp = mcp
        self._projects = projects
        self._takeover: Takeover | None = None
        self._listener = Listener(
            config.database_url,
            mailbox.channel,
            self._notified,
            self._reconnected,
            ping=max(self._lease / 3, 0.5),
            timeout=config.db_busy_timeout,
        )
        self._seq = itertools.count(1)
        self._outbox: list[tuple[int, str, dict[str, Any]]] = []
        self._cursors: dict[str, int] | None = None  # per sender, the last letter read; None: not yet
        self._unread: set[str] = set()  # senders with letters to read
        self._waiters: dict[str, asyncio.Future[None]] = {}  # message id -> done
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[Any]] = set()
        self._to_write = asyncio.Event()
        self._to_read = asyncio.Event()

    @property
    def host(self) -> str:
        return machine()

    def lease_until(self) -> int:
        return now_ms() + int(self._lease * 1000)

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, takeover: Takeover) -> None:
        self._takeover = takeover
        self._bus.forward = self._forward
        self._tasks.append(asyncio.create_task(self._write(), name="wakeful mailbox writer"))
        self._tasks.append(asyncio.create_task(self._read(), name="wakeful mailbox reader"))
        await self._listener.start()
        await self._scan()
        self._tasks.append(asyncio.create_task(self._renew(), name="wakeful lease renewal"))
        self._tasks.append(asyncio.create_task(self._watch(), name="wakeful takeover scan"))
        log.info("replica %s: lease %g s", self.instance, self._lease)

    async def close(self) -> None:
        """Stop watching; the letters already posted (the last runs' `done`) are written first."""
        if not self._tasks:
            return
        writer, *others = self._tasks
        self._tasks = []
        for task in [*others, *self._spawned]:
            task.cancel()
        await asyncio.gather(*others, *self._spawned, return_exceptions=True)
        await self._listener.close()
        if self._outbox:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(), self._config.db_busy_timeout)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        self._bus.forward = None

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    # --- what this server tells the others ----------------------------------------------------------

    def _post(self, kind: str, data: dict[str, Any]) -> None:
        self._outbox.append((next(self._seq), kind, data))
        if len(self._outbox) > MAX_OUTBOX:
            del self._outbox[: len(self._outbox) - MAX_OUTBOX]
            log.error("the mailbox cannot be written: the oldest letters were dropped")
        self._to_write.set()

    def _forward(self, event: Event) -> None:
        self._post("event", event.wire())

    def run_ended(self, message_id: str) -> None:
        self._post("done", {"messageID": message_id})
        self._wake(message_id)

    async def abort(self, session_id: str, reason: str) -> None:
        self._post("abort", {"sessionID": session_id, "reason": reason})

    async def answer_permission(self, request_id: str, reply: Reply, message: str | None) -> None:
        self._post("permission", {"requestID": request_id, "reply": reply, "message": message})

    def mcp_changed(self, directory: Path, change: McpChange) -> None:
        # An entry is a few hundred bytes: the letter's row holds it; the NOTIFY carries only its number.
        self._post("mcp", {"directory": str(directory), "change": change.model_dump(mode="json")})

    async def _write(self) -> None:
        attempt = 0
        while True:
            await self._to_write.wait()
            self._to_write.clear()
            try:
                await self._flush()
                attempt = 0
            except Exception as exc:
                attempt += 1
                log.warning("cannot write the mailbox: %s", exc)
                await asyncio.sleep(backoff_delay(attempt, 0.2, 5.0))
                self._to_write.set()

    async def _flush(self) -> None:
        while self._outbox:
            batch = self._outbox[:MAX_BATCH]
            await self._mailbox.post(self.instance, batch)
            del self._outbox[: len(batch)]

    # --- what the others tell this server -----------------------------------------------------------

    def _notified(self, payload: str) -> None:
        named = notification(payload)
        if named is None or self._cursors is None:
            return
        origin, seq = named
        if origin != self.instance and seq > self._cursors.get(origin, 0):
            self._unread.add(origin)
            self._to_read.set()

    async def _reconnected(self) -> None:
        """The listening connection is (re)opened: note what was posted meanwhile."""
        heads = await self._mailbox.heads()
        if self._cursors is None:  # the first time: what was posted before this server is history
            self._cursors = heads
            return
        self._unread.update(o for o, s in heads.items() if o != self.instance and s > self._cursors.get(o, 0))
        self._to_read.set()
        await self._check_waiters()

    async def _read(self) -> None:
        while True:
            await self._to_read.wait()
            self._to_read.clear()
            while self._unread:
                origin = self._unread.pop()
                assert self._cursors is not None
                try:
                    letters = await self._mailbox.since(origin, self._cursors.get(origin, 0))
                except Exception as exc:
                    log.warning("cannot read the mailbox: %s", exc)
                    self._unread.add(origin)
                    await asyncio.sleep(1.0)
                    continue
                for letter in letters:
                    self._cursors[origin] = letter.seq
                    self._receive(letter)

    def _receive(self, letter: Letter) -> None:
        data = letter.data
        try:
            if letter.kind == "event":
                event = self._bus.publish_remote(data)
                if event.type == "session.status":
                    self._runs.note_remote_status(event.properties["sessionID"], event.properties["status"])
                elif event.type in ("session.updated", "session.deleted"):
                    # Renamed, given new rules or deleted elsewhere: this server's index reads it again.
                    self._runs.sessions.index.forget(event.properties["sessionID"])
            elif letter.kind == "done":
                self._wake(data["messageID"])
            elif letter.kind == "abort":
                self._spawn(self._runs.abort(data["sessionID"], data["reason"], here_only=True))
            elif letter.kind == "permission":
                self._spawn(self._permissions.answer_here(data["requestID"], data["reply"], data.get("message")))
            elif letter.kind == "mcp":
                self._spawn(self._apply_mcp(Path(data["directory"]), CHANGE.validate_python(data["change"])))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("letter %s/%d (%s) is malformed: %s", letter.origin, letter.seq, letter.kind, exc)

    async def _apply_mcp(self, directory: Path, change: McpChange) -> None:
        try:
            await self._mcp.apply(self._projects.load(directory), change)
        except Exception as exc:
            log.warning("the MCP change %s of %s made on another server is not made here: %s", change, directory, exc)

    # --- waiting for runs ---------------------------------------------------------------------------

    async def finished(self, message_id: str) -> None:
        done = self._waiters.get(message_id)
        if done is None:
            done = self._waiters[message_id] = asyncio.get_running_loop().create_future()
        # Registered before the status is read: a `done` letter arriving meanwhile is not missed.
        run = await self._store.get_run(message_id)
        if run is None or run.status == "done":
            self._wake(message_id)
        await asyncio.shield(done)

    def _wake(self, message_id: str) -> None:
        done = self._waiters.pop(message_id, None)
        if done is not None and not done.done():
            done.set_result(None)

    async def _check_waiters(self) -> None:
        for message_id in list(self._waiters):
            run = await self._store.get_run(message_id)
            if run is None or run.status == "done":
                self._wake(message_id)

    async def turn(self, session_id: str, message_id: str, created: int) -> None:
        while True:
            earlier = [
                run
                for run in await self._store.unfinished_runs(session_id)
                if (run.created, run.message_id) < (created, message_id)
            ]
            if not earlier:
                return
            await self.finished(earlier[0].message_id)

    # --- leases and takeover ------------------------------------------------------------------------

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            live = self._runs.live_here()
            if not live:
                continue
            try:
                renewed = await self._store.renew_leases(self.instance, live, self.lease_until())
            except Exception as exc:
                log.warning("cannot renew the leases of %d run(s): %s", len(live), exc)
                continue
            lost = (live - renewed) & self._runs.live_here()
            if lost:
                self._runs.lost(lost)

    async def _watch(self) -> None:
        for scans in itertools.count(1):
            await asyncio.sleep(self._lease / 4)
            try:
                await self._scan()
                await self._check_waiters()
                if scans % PRUNE_EVERY == 0:
                    await self._mailbox.prune(now_ms() - int(self._config.mailbox_retention * 1000))
            except Exception:
                log.exception("takeover scan failed")

    async def _scan(self) -> None:
        """Take over every run whose lease expired."""
        assert self._takeover is not None
        for run in await self._store.expired_runs(now_ms()):
            if run.instance == self.instance and run.message_id in self._runs.live_here():
                continue  # ours and running: its renewal was late, not lost
            if await self._store.take_over(run, self.instance, self.host, self.lease_until()):
                log.warning("took over run %s of session %s from %s", run.message_id, run.session_id, run.instance)
                try:
                    await self._takeover.adopt(run)
                except Exception:
                    # Not renewed here, its lease expires again and the run is taken over anew.
                    log.exception("run %s could not be taken over", run.message_id)
