"""The outbox side of webhooks: what is sent, to whom, stored before anyone tries to send it.

A run's end (`RunManager.on_end`, and crash recovery for the runs it closes) and a permission request
(`Permissions.on_ask`) each store one delivery per URL that wants the event: the `callback` the
run was started with (every event of that run), and `--webhook-url` (the events of
`--webhook-events`, of every run). The body is fixed when it is stored. The courier sends it: at
once if it has a slot free (it is then stored leased to this server), else when it claims it.

Invariants:
- A delivery is stored before the run is marked done (before the request is announced), so a
  server that stops at any point leaves either no finished run or its stored delivery.
- Its id is a digest of what it reports and where it goes: storing it again (a run closed a
  second time by recovery) stores nothing new, and the receiver sees one delivery id per event.
- Every stored change of a delivery is announced as one `webhook.delivery` event (the `Delivery`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Literal

from wakeful.config import ServerConfig, WebhookEvent
from wakeful.ids import now_ms
from wakeful.run.manager import Reply, RunManager
from wakeful.run.webhooks.allow import AllowList
from wakeful.run.webhooks.courier import Courier
from wakeful.session.bus import EventBus
from wakeful.storage.base import DeliveryRecord, DeliveryStore
from wakeful.wire.base import Wire
from wakeful.wire.permissions import PermissionRequest
from wakeful.wire.webhooks import Delivery, DeliverySource, DeliveryTime, PermissionAsked, RunEnded


def delivery_id(subject: str, url: str) -> str:
    """The id of the delivery of `subject` (an event of a run or a request) to `url`."""
    return "dlv_" + hashlib.sha256(f"{subject}\n{url}".encode()).hexdigest()[:32]


def describe(record: DeliveryRecord) -> Delivery:
    """A delivery as the API and the `webhook.delivery` event show it."""
    return Delivery(
        id=record.id,
        event=record.event,
        source=record.source,
        url=record.url,
        sessionID=record.session_id,
        messageID=record.message_id,
        status=record.status,
        attempts=record.attempts,
        lastStatus=record.last_status,
        lastError=record.last_error,
        time=DeliveryTime(
            created=record.created,
            next=record.next_attempt if record.status == "pending" else None,
            ended=record.ended,
        ),
    )


class Webhooks:
    def __init__(
        self, config: ServerConfig, store: DeliveryStore, bus: EventBus, runs: RunManager, instance: str
    ) -> None:
        self._config = config
        self._store = store
        self._bus = bus
        self._runs = runs
        self.allow = AllowList(config.webhook_allow)
        self._courier = Courier(config, store, self.allow, instance, self._announce)

    async def start(self) -> None:
        """Start sending (the secret is read, or made, now)."""
        await self._courier.start()

    async def close(self) -> None:
        await self._courier.close()

    async def deliveries(self, message_id: str) -> list[Delivery]:
        """The deliveries of the run of the prompt `message_id`, oldest first."""
        return [describe(record) for record in await self._store.list_deliveries(message_id)]

    # --- events -----------------------------------------------------------------------------------

    async def run_ended(self, session_id: str, message_id: str, callback: str | None, reply: Reply) -> None:
        info = reply["info"]
        event: Literal["run.finished", "run.failed"] = (
            "run.failed" if info.get("error") is not None else "run.finished"
        )

        def body(delivery: str, now: int) -> Wire:
            return RunEnded(
                type=event,
                deliveryID=delivery,
                sessionID=session_id,
                messageID=message_id,
                time=now,
                info=info,
                parts=reply.get("parts", []),
            )

        await self._enqueue(f"run {message_id}", event, session_id, message_id, callback, body)

    async def permission_asked(self, request: PermissionRequest) -> None:
        # A session runs one prompt at a time: the one running now is the one that asks.
        handle = self._runs.current(request.sessionID)
        message_id = handle.message_id if handle is not None else None
        callback = handle.request.callback if handle is not None else None

        def body(delivery: str, now: int) -> Wire:
            return PermissionAsked(
                type="permission.asked",
                deliveryID=delivery,
                sessionID=request.sessionID,
                messageID=message_id,
                time=now,
                request=request,
            )

        await self._enqueue(
            f"permission {request.id}", "permission.asked", request.sessionID, message_id, callback, body
        )

    # --- the outbox -------------------------------------------------------------------------------

    def _targets(self, event: WebhookEvent, callback: str | None) -> list[tuple[str, DeliverySource]]:
        targets: list[tuple[str, DeliverySource]] = []
        if callback:
            targets.append((callback, "callback"))
        url = self._config.webhook_url
        if url and url != callback and event in self._config.webhook_events:
            targets.append((url, "server"))
        return targets

    async def _enqueue(
        self,
        subject: str,
        event: WebhookEvent,
        session_id: str,
        message_id: str | None,
        callback: str | None,
        body: Callable[[str, int], Wire],
    ) -> None:
        targets = self._targets(event, callback)
        if not targets:
            return
        now = now_ms()
        records = []
        for url, source in targets:
            delivery = delivery_id(subject, url)
            text = json.dumps(body(delivery, now).wire(), separators=(",", ":"), ensure_ascii=False)
            records.append(
                DeliveryRecord(
                    id=delivery,
                    session_id=session_id,
                    message_id=message_id,
                    event=event,
                    source=source,
                    url=url,
                    body=text,
                    created=now,
                    expires=now + int(self._config.webhook_retry_for * 1000),
                    next_attempt=now,
                )
            )
        held = self._courier.hold(records)
        stored: list[DeliveryRecord] = []
        try:
            stored = await self._store.add_deliveries(held)
        finally:
            self._courier.send(held, stored)
        for record in stored:
            self._announce(record)

    def _announce(self, record: DeliveryRecord) -> None:
        self._bus.publish("webhook.delivery", describe(record).wire())
