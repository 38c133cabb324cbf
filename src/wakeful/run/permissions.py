"""Permission requests: a tool call decided by the rules, or asked of a person and waited for.

`Permissions.gate(...)` gives a run the check its tools call (`ToolContext.ask`). Each call is decided
by the agent's ruleset, then the session's (read at every call, so a `PATCH /session` counts at
once), then what `always` replies approved in the session (`wakeful.project.permissions.decide`):
`allow` returns, `deny` raises a `ToolError` naming the rule, `ask` stores a `PermissionRequest`,
announces `permission.asked` and waits for `POST /permission/{id}/reply`.

Invariants:
- A request is stored before `permission.asked` goes out and removed before its one
  `permission.replied` does; `GET /permission` lists the stored requests.
- Every wait ends: with a reply; with the timeout, as a rejection that tells the model nobody
  answered; with the run's cancellation (abort, deadline, drain), as a rejection; or when the server
  stops taking answers (`close`, at the start of a drain). None of them leaves a request behind, and
  a request a dead server left is removed by `recover` at the next start.
- `always` approvals hold for the rest of the session, in this server's memory.
- Replicas: a reply sent to a server where no run waits for the request is handed over
  (`Cluster.answer_permission`) to the one whose run does, which answers it as its own; the
  requests of a run taken over from a stopped server are withdrawn (`withdraw_stale`), and the
  resumed run asks again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wakeful import ids
from wakeful.errors import PermissionNotFoundError, ToolError
from wakeful.project.permissions import Ruleset, decide, evaluate, relevant
from wakeful.run.admission import paused
from wakeful.run.cluster import Cluster, LocalCluster
from wakeful.session.bus import EventBus
from wakeful.session.sessions import Sessions
from wakeful.storage.base import PermissionStore
from wakeful.tools.base import PermissionAsk, PermissionGate
from wakeful.wire.permissions import (
    PermissionReplied,
    PermissionRequest,
    PermissionRule,
    PermissionToolRef,
    Reply,
)

log = logging.getLogger("wakeful.permissions")


@dataclass(frozen=True)
class _Answer:
    reply: Reply | None  # None: withdrawn (the server stops taking answers)
    message: str | None = None


@dataclass
class _Pending:
    request: PermissionRequest
    answer: asyncio.Future[_Answer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _what(request: PermissionRequest) -> str:
    return f"{request.permission} ({', '.join(request.patterns)})"


def _rule(rule: PermissionRule) -> str:
    return json.dumps(rule.wire())


class Permissions:
    def __init__(self, store: PermissionStore, bus: EventBus, sessions: Sessions) -> None:
        self._store = store
        self._bus = bus
        self._sessions = sessions
        self._pending: dict[str, _Pending] = {}
        self._approved: dict[str, Ruleset] = {}  # session id -> allow rules from `always` replies
        self._closed: str | None = None  # why answers are no longer taken
        # Called with each request once it is stored, before it is announced (webhooks store their
        # deliveries here); a failure is logged, and the request still asked.
        self.on_ask: Callable[[PermissionRequest], Awaitable[None]] | None = None
        self.cluster: Cluster = LocalCluster()  # the runtime sets the replicas' one

    # --- the runs' side ---------------------------------------------------------------------------

    def gate(self, ruleset: Ruleset, timeout: float) -> PermissionGate:
        """The check of a run whose agent has `ruleset`; a request nobody answers is rejected after
        `timeout` seconds."""

        async def check(ask: PermissionAsk) -> None:
            session = await self._sessions.get(ask.session_id)
            rules = [*ruleset, *(session.permission or [])]
            decision = decide(ask.permission, ask.patterns, rules, self._approved.get(ask.session_id, []))
            if decision.action == "allow":
                return
            if decision.action == "deny":
                assert decision.rule is not None
                raise ToolError(
                    f"Permission denied: the rule {_rule(decision.rule)} forbids {ask.permission} for "
                    f"{decision.pattern!r}, so the call was not run. Do not retry it. The rules for "
                    f"{ask.permission}: {json.dumps([r.wire() for r in relevant(ask.permission, rules)])}"
                )
            await self._wait(ask, timeout)

        return check

    async def _wait(self, ask: PermissionAsk, timeout: float) -> None:
        request = PermissionRequest(
            id=ids.permission_id(),
            sessionID=ask.session_id,
            permission=ask.permission,
            patterns=ask.patterns,
            metadata=ask.metadata,
            always=ask.always,
            tool=PermissionToolRef(messageID=ask.message_id, callID=ask.call_id) if ask.call_id else None,
        )
        if self._closed is not None:
            raise ToolError(f"Permission for {_what(request)} cannot be asked: {self._closed}")
        pending = self._pending[request.id] = _Pending(request)
        try:
            await self._store.put_permission(request.wire())
            if self.on_ask is not None:
                try:
                    await self.on_ask(request)
                except Exception:
                    log.exception(
                        "permission request %s: what its asking starts could not be stored", request.id
                    )
            self._bus.publish("permission.asked", request.wire())
            try:
                # Waiting for a person: the run's admission slot goes to another run meanwhile.
                async with paused(), asyncio.timeout(timeout):
                    answer = await asyncio.shield(pending.answer)
            except TimeoutError:
                if request.id not in self._pending:  # a reply came in as the time ran out: it counts
                    answer = await pending.answer
                else:
                    log.warning(
                        "permission request %s of session %s for %s: nobody answered within %g s; rejected",
                        request.id,
                        request.sessionID,
                        _what(request),
                        timeout,
                    )
                    raise ToolError(
                        f"Nobody answered the request for permission to use {_what(request)} within "
                        f"{timeout:g} s, so it was rejected and the call was not run. Nobody is watching "
                        "this run: do not ask again; go on without it, or finish and say what needs "
                        "approval."
                    ) from None
        finally:
            if self._pending.pop(request.id, None) is not None:  # not answered: timeout, cancellation
                await asyncio.shield(self._close(request, "reject"))
        if answer.reply is None:
            raise ToolError(
                f"The request for permission to use {_what(request)} was withdrawn ({answer.message}); "
                "the call was not run."
            )
        if answer.reply == "reject":
            feedback = f" Their message: {answer.message}" if answer.message else ""
            raise ToolError(
                f"The user rejected permission to use {_what(request)}; the call was not run.{feedback}"
            )

    async def _close(self, request: PermissionRequest, reply: Reply) -> None:
        await self._store.delete_permission(request.id)
        replied = PermissionReplied(sessionID=request.sessionID, requestID=request.id, reply=reply)
        self._bus.publish("permission.replied", replied.wire())

    # --- the clients' side ------------------------------------------------------------------------

    async def list(self) -> list[PermissionRequest]:
        return [PermissionRequest.model_validate(r) for r in await self._store.list_permissions()]

    async def reply(
        self, request_id: str, reply: Reply, message: str | None = None, *, session_id: str | None = None
    ) -> PermissionRequest:
        """Answer a pending request (of `session_id`, when given): `once` lets the call run,
        `always` also allows its `always` patterns for the rest of the session (and lets the
        session's other requests that they cover run), `reject` refuses it and the session's other
        pending requests."""
        pending = self._pending.get(request_id)
        if pending is None and self.cluster.shared:
            stored = next((r for r in await self.list() if r.id == request_id), None)
            if stored is not None and session_id in (None, stored.sessionID):
                await self.cluster.answer_permission(request_id, reply, message)
                return stored
        if pending is None or session_id not in (None, pending.request.sessionID):
            raise PermissionNotFoundError(request_id)
        del self._pending[request_id]
        request = pending.request
        await self._close(request, reply)
        pending.answer.set_result(_Answer(reply, message))
        session = request.sessionID
        if reply == "always":
            approved = self._approved.setdefault(session, [])
            approved += [
                PermissionRule(permission=request.permission, pattern=p, action="allow")
                for p in request.always
            ]

            def covered(other: PermissionRequest) -> bool:
                return all(evaluate(other.permission, p, approved) == "allow" for p in other.patterns)

            await self._settle(session, "always", covered)
        elif reply == "reject":
            await self._settle(session, "reject", lambda other: True)
        return request

    async def answer_here(self, request_id: str, reply: Reply, message: str | None) -> None:
        """A reply another server handed over: answered if a run here waits for the request."""
        if request_id in self._pending:
            await self.reply(request_id, reply, message)

    async def _settle(
        self, session_id: str, reply: Reply, applies: Callable[[PermissionRequest], bool]
    ) -> None:
        """Answer `reply` to the session's other pending requests that `applies` to."""
        for other in [p for p in self._pending.values() if p.request.sessionID == session_id]:
            if applies(other.request) and self._pending.pop(other.request.id, None) is not None:
                await self._close(other.request, reply)
                other.answer.set_result(_Answer(reply))

    # --- the server's side ------------------------------------------------------------------------

    async def close(self, reason: str) -> None:
        """Take no more answers (the server drains): every pending request is withdrawn, and any
        new one is refused at once, each with `reason`."""
        self._closed = reason
        for pending in list(self._pending.values()):
            if self._pending.pop(pending.request.id, None) is not None:
                await self._close(pending.request, "reject")
                pending.answer.set_result(_Answer(None, reason))

    def forget(self, session_id: str) -> None:
        """Drop the session's `always` approvals (it was deleted)."""
        self._approved.pop(session_id, None)

    async def withdraw_stale(self, session_id: str) -> int:
        """Remove the session's stored requests that no run here waits for (their server stopped and
        its run is being taken over), each announced as rejected; answers how many there were."""
        stale = [
            PermissionRequest.model_validate(raw)
            for raw in await self._store.list_permissions()
            if raw.get("sessionID") == session_id and raw.get("id") not in self._pending
        ]
        for request in stale:
            log.warning("permission request %s of session %s: its server stopped; withdrawn", request.id, session_id)
            await self._close(request, "reject")
        return len(stale)

    async def recover(self) -> int:
        """Remove the requests a dead server left pending (their runs were closed as interrupted);
        answers how many there were."""
        removed = await self._store.clear_permissions()
        for request in removed:
            log.warning(
                "permission request %s of session %s was pending when the server stopped; removed",
                request.get("id"),
                request.get("sessionID"),
            )
        return len(removed)
