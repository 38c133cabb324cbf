"""The cluster seam: what the run layer asks of the other servers on its database, if any.

`LocalCluster` is one server alone (SQLite, or a store of a test's own): the data-directory lock
says that every run is this server's, so there are no leases, no one to tell anything, and at start
every unfinished run is a dead predecessor's. `wakeful.run.replicas.Replicas` is the PostgreSQL one:
leases, a mailbox, takeover. The run manager and the permissions consult `shared` only where a
single server's behaviour would be wrong with replicas, so a single server behaves exactly as it did
before the seam existed.
"""

from __future__ import annotations

import functools
import socket
from pathlib import Path
from typing import Protocol

from wakeful.storage.base import RunRecord
from wakeful.wire.permissions import Reply


class Takeover(Protocol):
    async def recover_all(self) -> None:
        """At start, on a server alone: every unfinished run is a dead server's; resume or close each."""
        ...

    async def adopt(self, run: RunRecord) -> None:
        """`run` was just taken over from a server that stopped: resume it, or close it."""
        ...


@functools.cache
def machine() -> str:
    """This machine's identity for process groups: the host name and the kernel's boot id, so that
    a pgid recorded by a server is only ever signalled on the machine (and the boot) it names.
    Containers have host names of their own, as they have their own process ids."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


class Cluster(Protocol):
    shared: bool  # other servers use the same database

    @property
    def host(self) -> str: ...

    def lease_until(self) -> int:
        """The lease of a run claimed now (ms since the epoch; 0: no leases)."""
        ...

    async def start(self, takeover: Takeover) -> None:
        """Recover what stopped servers left, then (replicas) keep leases and watch the others."""
        ...

    async def close(self) -> None: ...

    def run_ended(self, message_id: str) -> None:
        """The run is stored as done: wake whoever waits for it, here and on the other servers."""
        ...

    async def finished(self, message_id: str) -> None:
        """Return once the run is done, wherever it runs (replicas only)."""
        ...

    async def turn(self, session_id: str, message_id: str, created: int) -> None:
        """Return once no run of the session claimed before this one is unfinished anywhere: a
        session runs one prompt at a time across servers, in the order they were claimed."""
        ...

    async def abort(self, session_id: str, reason: str) -> None:
        """Ask the other servers to stop their runs of the session."""
        ...

    async def answer_permission(self, request_id: str, reply: Reply, message: str | None) -> None:
        """Hand a reply to a permission request over to the server whose run waits for it."""
        ...


class LocalCluster:
    """One server alone on its database."""

    shared = False

    @property
    def host(self) -> str:
        return machine()

    def lease_until(self) -> int:
        return 0

    async def start(self, takeover: Takeover) -> None:
        await takeover.recover_all()

    async def close(self) -> None:
        pass

    def run_ended(self, message_id: str) -> None:
        pass

    async def finished(self, message_id: str) -> None:
        pass

    async def turn(self, session_id: str, message_id: str, created: int) -> None:
        pass

    async def abort(self, session_id: str, reason: str) -> None:
        pass

    async def answer_permission(self, request_id: str, reply: Reply, message: str | None) -> None:
        pass
