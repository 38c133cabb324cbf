"""The mailbox: how replicas on one PostgreSQL database tell each other what happened.

A letter is a row of the `mailbox` table, numbered by its sender: `(origin, seq)`, `seq` counting
up from 1 in the order the sender posts. A sender posts its letters one batch at a time, each batch
in one transaction that also sends `NOTIFY <channel>, '{"o": origin, "s": last seq}'`: the
notification carries two numbers, never a body (NOTIFY caps payloads at 8,000 bytes), and is
delivered only when the letters are committed. A reader keeps, per origin, the last seq it read and
reads what follows; since one sender's batches commit in order, a reader that reads `seq > cursor`
never skips a letter of that sender. Letters older than the retention are pruned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select

from wakeful.ids import now_ms
from wakeful.storage import schema as t
from wakeful.storage.postgres import Postgres

CHANNEL = "wakeful"


@dataclass(frozen=True)
class Letter:
    origin: str
    seq: int
    kind: str
    data: dict[str, Any]


def notification(payload: str) -> tuple[str, int] | None:
    """The `(origin, seq)` a NOTIFY payload names; None if it is not one of ours."""
    try:
        decoded = json.loads(payload)
        return str(decoded["o"]), int(decoded["s"])
    except (ValueError, KeyError, TypeError):
        return None


class Mailbox:
    def __init__(self, db: Postgres, channel: str = CHANNEL) -> None:
        self.db = db
        self.channel = channel

    async def post(self, origin: str, letters: list[tuple[int, str, dict[str, Any]]]) -> None:
        """Store `(seq, kind, data)` letters of `origin` (seqs ascending) and notify the readers."""
        if not letters:
            return
        created = now_ms()
        rows = [
            {
                "origin": origin,
                "seq": seq,
                "created": created,
                "kind": kind,
                "data": json.dumps(data, separators=(",", ":"), ensure_ascii=False),
            }
            for seq, kind, data in letters
        ]
        payload = json.dumps({"o": origin, "s": letters[-1][0]}, separators=(",", ":"))

        # A batch whose commit went unacknowledged is posted again: its letters are there already.
        stmt = self.db.insert(t.mailbox).on_conflict_do_nothing()

        def op(conn: Connection) -> None:
            conn.execute(stmt, rows)
            conn.execute(select(func.pg_notify(self.channel, payload)))

        await self.db.write(op)

    async def since(self, origin: str, seq: int) -> list[Letter]:
        """The letters of `origin` after `seq`, in order."""
        box = t.mailbox.c
        stmt = (
            select(box.seq, box.kind, box.data)
            .where(box.origin == origin, box.seq > seq)
            .order_by(box.seq)
        )
        rows = await self.db.read(lambda conn: conn.execute(stmt).all())
        return [Letter(origin, s, kind, json.loads(data)) for s, kind, data in rows]

    async def heads(self) -> dict[str, int]:
        """The last seq of every origin that has letters."""
        box = t.mailbox.c
        stmt = select(box.origin, func.max(box.seq)).group_by(box.origin)
        rows = await self.db.read(lambda conn: conn.execute(stmt).all())
        return {origin: int(seq) for origin, seq in rows}

    async def prune(self, before: int) -> int:
        """Remove letters posted before `before` (ms); answer how many."""
        stmt = delete(t.mailbox).where(t.mailbox.c.created < before)
        removed: int = await self.db.write(lambda conn: conn.execute(stmt).rowcount)
        return removed
