"""`wakeful run` and `wakeful shell`: one run, shown live, with Ctrl-C as "abort this run".

The events stream is opened (and known to be connected) before the run is submitted, so nothing
the run does is missed. The run is one long call with a client-chosen messageID, so a connection
that breaks on the way is retried without a second run. The first Ctrl-C aborts the run through
the API and waits for its stored answer (the session ends idle, with `MessageAbortedError`); a
second Ctrl-C stops waiting at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.text import Text

from wakeful import ids
from wakeful.cli.render import JsonView, LiveView, PlainView, Tracker, View
from wakeful.cli.target import Target, client_options
from wakeful.client import AsyncClient, ClientError, Event, Refused, Reply, RunFailed, ServerError
from wakeful.client.sse import CONTROL

INTERRUPTED = 130  # the shell's code for "ended by SIGINT"
Outcome = Reply | ClientError


@dataclass(frozen=True)
class RunOrder:
    kind: Literal["prompt", "shell"]
    text: str
    session: str | None = None
    model: str | None = None
    agent: str | None = None
    format: Literal["text", "json"] = "text"


def run(order: RunOrder, target: Target) -> int:
    err = Console(stderr=True, highlight=False)
    try:
        with target.open() as url:
            return asyncio.run(_main(url, order, err))
    except KeyboardInterrupt:  # Ctrl-C while a server was starting: nothing to abort yet
        return INTERRUPTED
    except ClientError as exc:
        err.print(Text(f"wakeful: {exc}", "red"), soft_wrap=True)
        return 1


async def _main(url: str, order: RunOrder, err: Console) -> int:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    interrupted = asyncio.Event()

    def on_sigint() -> None:
        if interrupted.is_set() and main is not None:
            main.cancel()  # the second Ctrl-C: stop waiting for the abort
        interrupted.set()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        # A server that is not there at the start is a wrong URL, not a blip: fail fast on it. The
        # run itself gets the full retry budget.
        async with AsyncClient(url, retries=1, **client_options()) as probe:
            session_id = order.session or (await probe.create_session()).id
            if order.session:
                await probe.get_session(session_id)
        async with AsyncClient(url, **client_options()) as client:
            runner = Runner(client, order, session_id, err, interrupted, created=not order.session)
            return await runner.execute()
    except asyncio.CancelledError:
        return INTERRUPTED
    finally:
        loop.remove_signal_handler(signal.SIGINT)


class Follower:
    """Feeds the session's events to the view, in a task of its own."""

    def __init__(self, client: AsyncClient, tracker: Tracker, view: View) -> None:
        self.client = client
        self.tracker = tracker
        self.view = view
        self.connected = asyncio.Event()
        self.changed = asyncio.Condition()
        self.error: ClientError | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._follow())
        await self.connected.wait()
        if self.error is not None:
            raise self.error

    async def _follow(self) -> None:
        try:
            async for item in self.client.events(control=True):
                if isinstance(item, Event) and item.type in CONTROL:
                    if item.type == "server.connected":
                        self.connected.set()
                    continue
                if isinstance(item, Event) and not self.tracker.mine(item):
                    continue
                self.view.show(item, self.tracker.feed(item) if isinstance(item, Event) else [])
                async with self.changed:
                    self.changed.notify_all()
        except ClientError as exc:
            self.error = exc
            self.connected.set()

    async def finish(self, message_id: str | None, timeout: float = 3.0) -> None:
        """Show the run's last events (they may trail its answer a little), then stop."""
        if message_id is not None and self.task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout), self.changed:
                    await self.changed.wait_for(
                        lambda: message_id in self.tracker.finished or bool(self.task and self.task.done())
                    )
        await self.stop()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientError):
                await self.task


class Runner:
    def __init__(
        self,
        client: AsyncClient,
        order: RunOrder,
        session_id: str,
        err: Console,
        interrupted: asyncio.Event,
        *,
        created: bool = False,
    ) -> None:
        self.client = client
        self.order = order
        self.session_id = session_id
        self.err = err
        self.interrupted = interrupted
        self.created = created  # the session was made for this run, so a refusal leaves nothing

    def _view(self) -> View:
        if self.order.format == "json":
            return JsonView()
        return LiveView(self.err) if self.err.is_terminal else PlainView(self.err)

    async def execute(self) -> int:
        session_id = self.session_id
        tracker = Tracker(session_id)
        view = self._view()
        started = time.monotonic()
        follower = Follower(self.client, tracker, view)
        view.start()
        try:
            await follower.start()
            if self.interrupted.is_set():  # Ctrl-C before the run was sent: nothing to abort
                return INTERRUPTED
            call = asyncio.create_task(self._call(session_id))
            stopped = await self._until_done_or_interrupted(call)
            if stopped:
                await self._abort(session_id, call, view)
            outcome = await _outcome(call)
            if self.created and isinstance(outcome, Refused):
                # The prompt was refused before it was stored (no model, unknown provider...): the
                # session made for it would stay behind empty.
                with contextlib.suppress(ClientError):
                    await self.client.delete_session(session_id)
            await follower.finish(_message_id(outcome))
        finally:
            await follower.stop()
            view.stop()
        return self._report(outcome, view, stopped, time.monotonic() - started)

    async def _call(self, session_id: str) -> Reply:
        message_id = ids.message_id()
        order = self.order
        if order.kind == "shell":
            return await self.client.shell(
                session_id, order.text, agent=order.agent or "build", model=order.model, message_id=message_id
            )
        return await self.client.prompt(
            session_id, order.text, agent=order.agent, model=order.model, message_id=message_id
        )

    async def _until_done_or_interrupted(self, call: asyncio.Task[Reply]) -> bool:
        waiter = asyncio.create_task(self.interrupted.wait())
        try:
            await asyncio.wait({call, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        return self.interrupted.is_set() and not call.done()

    async def _abort(self, session_id: str, call: asyncio.Task[Reply], view: View) -> None:
        view.note("interrupted: aborting the run (Ctrl-C again to stop waiting)")
        # Repeated, because the run may not have reached the server when the first abort did.
        for _ in range(20):
            with contextlib.suppress(ClientError):
                await self.client.abort(session_id)
            done, _ = await asyncio.wait({call}, timeout=1.0)
            if done:
                return

    def _report(self, outcome: Outcome, view: View, stopped: bool, seconds: float) -> int:
        if isinstance(view, JsonView):
            view.write(_final_document(outcome))
        else:
            answer = _answer_text(outcome, self.order.kind)
            if answer:
                print(answer, flush=True)
            if isinstance(outcome, ClientError):
                self.err.print(Text(f"✗ {outcome} ({seconds:.1f}s)", "red"), soft_wrap=True)
            else:
                self.err.print(Text(f"✓ done in {seconds:.1f}s", "green"))
        if stopped:
            return INTERRUPTED
        if isinstance(outcome, ClientError):
            return 1
        return _shell_exit(outcome) if self.order.kind == "shell" else 0


async def _outcome(call: asyncio.Task[Reply]) -> Outcome:
    try:
        return await call
    except ClientError as exc:
        return exc


def _message_id(outcome: Outcome) -> str | None:
    if isinstance(outcome, Reply):
        return outcome.info.id
    return outcome.message_id if isinstance(outcome, RunFailed) else None


def _final_document(outcome: Outcome) -> Any:
    if isinstance(outcome, Reply):
        return outcome.wire()
    if isinstance(outcome, RunFailed):
        return outcome.reply.wire()
    if isinstance(outcome, ServerError):
        return outcome.body
    return {"name": type(outcome).__name__, "data": {"message": str(outcome)}}


def _answer_text(outcome: Outcome, kind: str) -> str:
    reply = outcome.reply if isinstance(outcome, RunFailed) else outcome
    if not isinstance(reply, Reply):
        return ""
    if kind == "prompt":
        return reply.text.strip()
    outputs = [
        p.state.output.rstrip("\n") for p in reply.parts if p.type == "tool" and p.state.status == "completed"
    ]
    return "\n".join(o for o in outputs if o)


def _shell_exit(reply: Reply) -> int:
    """The command's own exit code, like a shell would give."""
    for part in reply.parts:
        if part.type == "tool" and part.state.status == "completed":
            code = part.state.metadata.get("exit")
            if isinstance(code, int) and 0 < code < 256:
                return code
    return 0
