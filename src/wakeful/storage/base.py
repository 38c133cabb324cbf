"""The store seam: everything wakeful persists goes through these protocols, one per aggregate.

Records are plain JSON-able dicts in the reference's wire shapes; a store keeps what it was given,
so what comes back is a fresh copy that a caller may change freely. The store adds an insertion
sequence and orders by it (never by id: ids wrap and clients choose their own message ids). A record
written again (an upsert) keeps its place; one deleted and written again goes to the end.

`Store` is every aggregate plus `open`/`close`. Code above storage names the narrowest protocol it
needs; only the runtime names an implementation (`sql.SQLStore`, or `memory.MemoryStore` in tests).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from wakeful.config import WebhookEvent
from wakeful.errors import ConflictError
from wakeful.wire.webhooks import DeliverySource, DeliveryStatus

RunStatus = Literal["queued", "running", "done"]
Record = tuple[Literal["message", "part"], dict[str, Any]]  # what `MessageStore.put_records` writes


def part_taken(part_id: str) -> ConflictError:
    return ConflictError(
        f"part id {part_id} is already in use; choose another, or send none", resource=part_id
    )


def fold(text: str) -> str:
    """The case folding that makes a session search case-insensitive, in every store alike."""
    return text.casefold()


@dataclass
class RunRecord:
    """One accepted prompt (or command, or shell call), keyed by its user message id."""

    message_id: str
    session_id: str
    kind: str  # "prompt" | "command" | "shell"; "message" for an id that no run owns
    body_hash: str
    status: RunStatus = "queued"
    instance: str = ""  # the server that owns it
    pgids: list[int] = field(default_factory=list)
    created: int = 0
    # Until when (ms since the epoch) `instance` holds it; renewed while it runs. 0 on a server
    # without replicas, where the data-directory lock says who owns every run.
    lease_until: int = 0
    host: str = ""  # the machine `pgids` are process groups of
    resumes: int = 0  # how many times a server took it over after its owner stopped
    plan: dict[str, Any] = field(default_factory=dict)  # what resuming it needs beyond its user message
    callback: str | None = None  # the URL its end (and its permission requests) is posted to


@dataclass
class SessionQuery:
    """Which sessions `list_sessions` answers: every filter given must hold; newest first (by
    insertion), at most `limit`. `search` is a case-insensitive substring of the title; `start`
    keeps sessions updated at or after it (ms)."""

    project_id: str | None = None
    roots: bool = False
    search: str | None = None
    start: float | None = None
    limit: int = 100  # not negative: the session service refuses that
    parent_id: str | None = None


@dataclass(frozen=True)
class ProjectRecord:
    """A project as its sessions show it: the directory of its first session, when that one was
    created, and the latest `time.updated` of any of them."""

    id: str
    directory: str
    created: int
    updated: int


class SessionStore(Protocol):
    async def put_session(self, info: dict[str, Any]) -> None: ...

    async def get_session(self, session_id: str) -> dict[str, Any] | None: ...

    async def list_sessions(self, query: SessionQuery) -> list[dict[str, Any]]: ...

    async def session_tree(self, session_id: str) -> list[dict[str, Any]]:
        """The session and all its descendants, deepest first (so each comes before its parent);
        [] if it does not exist."""
        ...

    async def delete_session_tree(self, session_id: str) -> list[dict[str, Any]]:
        """Remove the session, its descendants, and everything they hold (messages, parts, todos,
        runs, permission requests, webhook deliveries, sent or not) in one transaction; answer the
        removed sessions as `session_tree` orders them."""
        ...

    async def projects(self) -> list[ProjectRecord]:
        """Every project that has sessions, most recently updated first."""
        ...


class MessageStore(Protocol):
    """Messages with their parts. A message is answered as `{"info": ..., "parts": [...]}`."""

    async def put_message(self, info: dict[str, Any]) -> None: ...

    async def get_message(self, session_id: str, message_id: str) -> dict[str, Any] | None: ...

    async def list_messages(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> list[dict[str, Any]]:
        """The session's messages in insertion order: only those inserted before the message
        `before` (none if no message has that id), then the last `limit` of them."""
        ...

    async def messages_after(self, session_id: str, message_id: str) -> list[dict[str, Any]] | None:
        """The session's messages inserted after its message `message_id`, in insertion order;
        None when the session has no such message (it was deleted: the caller must read again)."""
        ...

    async def delete_message(self, session_id: str, message_id: str) -> None: ...

    async def put_part(self, part: dict[str, Any]) -> None: ...

    async def put_records(self, records: Sequence[Record]) -> None:
        """Messages (`("message", info)`) and parts (`("part", part)`), each written as
        `put_message` / `put_part` write it, in order, in one transaction."""
        ...

    async def delete_part(self, message_id: str, part_id: str) -> None: ...


class TodoStore(Protocol):
    async def get_todos(self, session_id: str) -> list[dict[str, Any]]: ...

    async def set_todos(self, session_id: str, todos: list[dict[str, Any]]) -> None: ...


class RunStore(Protocol):
    """Runs: the idempotency claim, and what crash recovery needs (status, process groups)."""

    async def claim_run(
        self, run: RunRecord, user_message: dict[str, Any], parts: list[dict[str, Any]]
    ) -> RunRecord | None:
        """Record the run and its user message in one transaction, unless `run.message_id` is
        already claimed: then return the existing record and write nothing. An id that already
        names a message no run owns is answered as a record with an empty `body_hash`, which no
        request matches: a conflict. A part id that is already stored, in any session, raises
        `ConflictError` and writes nothing: a client-chosen id never reaches another's rows."""
        ...

    async def get_run(self, message_id: str) -> RunRecord | None: ...

    async def set_run_status(self, message_id: str, status: RunStatus) -> None:
        """A run set `done` also forgets its process groups: nothing of it is left to kill."""
        ...

    async def set_run_pgids(self, message_id: str, pgids: list[int]) -> None:
        """The process groups a crash would leave running, replacing those recorded before."""
        ...

    async def unfinished_runs(self, session_id: str | None = None) -> list[RunRecord]:
        """Runs not done (of one session, if given), oldest claim first (by `created`, then id)."""
        ...

    # Leases, for servers sharing one database. Times are ms since the epoch on the callers' clocks.

    async def renew_leases(self, instance: str, message_ids: Collection[str], until: int) -> set[str]:
        """Extend to `until` the lease of each of the runs `message_ids` that is unfinished and
        still owned by `instance`; answer those. A run another server took over is not among them."""
        ...

    async def expired_runs(self, now: int) -> list[RunRecord]:
        """Unfinished runs whose lease ended before `now`, oldest claim first."""
        ...

    async def take_over(self, run: RunRecord, instance: str, host: str, until: int) -> bool:
        """Make `instance` on `host` the owner of `run` until `until`, counting one more resume and
        forgetting its process groups, if its owner and lease are still what `run` says: of several
        servers taking over one run, exactly one gets True."""
        ...


class PermissionStore(Protocol):
    """Permission requests a run waits on (the reference's `PermissionRequest`), kept until they are
    answered so that every client sees the same list, and so that a server starting after a crash
    can clear what its predecessor left waiting."""

    async def put_permission(self, request: dict[str, Any]) -> None: ...

    async def delete_permission(self, request_id: str) -> None: ...

    async def list_permissions(self) -> list[dict[str, Any]]:
        """Every stored request, oldest first."""
        ...

    async def clear_permissions(self) -> list[dict[str, Any]]:
        """Remove every stored request; answer them, oldest first."""
        ...


@dataclass
class DeliveryRecord:
    """One webhook delivery of the outbox: a body for a URL, stored before it is first sent.

    `id` is derived from what it reports and where it goes, so storing it twice stores it once.
    It may be sent when `status` is pending, `next_attempt` has come and no lease holds it:
    `owner` is the server sending it until `lease_until` (0: none), and `attempts` counts the
    sends claimed so far, so that the outcome of an attempt whose lease another server has taken
    over since is not recorded. All times are epoch milliseconds."""

    id: str
    session_id: str
    message_id: str | None  # the prompt whose run it reports (asked permission in)
    event: WebhookEvent
    source: DeliverySource
    url: str
    body: str  # the exact JSON text sent, and signed, on every attempt
    created: int
    expires: int  # no attempt starts after this; the delivery then fails
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_attempt: int = 0
    owner: str | None = None
    lease_until: int = 0
    last_status: int | None = None  # the receiver's HTTP status on the last attempt
    last_error: str | None = None  # why the last attempt got no answer
    ended: int | None = None  # when it was delivered, or given up


@dataclass(frozen=True)
class Settlement:
    """The outcome of one attempt: delivered, given up (`failed`), or `pending` again from
    `next_attempt`."""

    status: DeliveryStatus
    next_attempt: int
    last_status: int | None = None
    last_error: str | None = None
    ended: int | None = None


class DeliveryStore(Protocol):
    """The webhook outbox (`run/webhooks`): deliveries are stored before they are sent, claimed with
    a lease by one server at a time, and settled by the server that holds the lease."""

    async def add_deliveries(self, deliveries: list[DeliveryRecord]) -> list[DeliveryRecord]:
        """Store the deliveries whose ids are new; answer those (one already stored is left as
        it is)."""
        ...

    async def claim_deliveries(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> list[DeliveryRecord]:
        """Lease up to `limit` pending deliveries due at `now` and held by no live lease, oldest due
        first, to `owner` until `lease_until`, counting an attempt for each: one conditional update,
        so that of servers claiming at once each delivery goes to one. Answers them as claimed."""
        ...

    async def settle_delivery(self, delivery_id: str, owner: str, attempt: int, outcome: Settlement) -> bool:
        """Record the outcome of attempt number `attempt` and end its lease, if `owner` still holds
        the delivery for that attempt; False (nothing written) if not."""
        ...

    async def next_delivery_due(self) -> int | None:
        """When the earliest pending delivery can next be claimed (ms); None if none is pending."""
        ...

    async def list_deliveries(self, message_id: str) -> list[DeliveryRecord]:
        """The deliveries of the prompt `message_id`'s run, oldest first."""
        ...


class Store(SessionStore, MessageStore, TodoStore, RunStore, PermissionStore, DeliveryStore, Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...
