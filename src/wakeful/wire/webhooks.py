"""Webhooks on the wire: the bodies wakeful posts, and the deliveries a run's route lists.

Every body carries its event `type`, its `deliveryID` (also the `X-Wakeful-Delivery` header: the
same on every attempt, so a receiver can drop repeats), the session, the prompt whose run it is
about (`messageID`, the user message id the call answered with `X-Wakeful-Message-ID`) and when it
happened. See docs/webhooks.md.
"""

from __future__ import annotations

from typing import Any, Literal

from wakeful.config import WebhookEvent
from wakeful.wire.base import Wire
from wakeful.wire.permissions import PermissionRequest

DeliveryStatus = Literal["pending", "delivered", "failed"]
DeliverySource = Literal["callback", "server"]


class RunEnded(Wire):
    """`run.finished` or `run.failed`: the run's answer, `{info, parts}` as `/message` answered it
    (`run.failed` when `info.error` is set: the run failed, was aborted or hit its deadline)."""

    type: Literal["run.finished", "run.failed"]
    deliveryID: str
    sessionID: str
    messageID: str
    time: int
    info: dict[str, Any]
    parts: list[dict[str, Any]]


class PermissionAsked(Wire):
    """`permission.asked`: the run of `messageID` waits for an answer to `request`
    (`POST /permission/{request.id}/reply`)."""

    type: Literal["permission.asked"]
    deliveryID: str
    sessionID: str
    messageID: str | None = None
    time: int
    request: PermissionRequest


class DeliveryTime(Wire):
    created: int
    next: int | None = None  # when a pending delivery is next attempted
    ended: int | None = None  # when it was delivered, or given up


class Delivery(Wire):
    """One webhook delivery and how it went. `source` is `callback` (the call's `?callback=`) or
    `server` (`--webhook-url`). `status`: `pending` until a receiver answers 2xx (`delivered`)
    or the retry time runs out (`failed`). `lastStatus` is the receiver's last HTTP status,
    `lastError` why the last attempt got no answer."""

    id: str
    event: WebhookEvent
    source: DeliverySource
    url: str
    sessionID: str
    messageID: str | None = None
    status: DeliveryStatus
    attempts: int
    lastStatus: int | None = None
    lastError: str | None = None
    time: DeliveryTime
