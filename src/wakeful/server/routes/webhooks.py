"""wakeful's additions for webhooks (docs/webhooks.md): the route that lists a run's deliveries, and
the OpenAPI description of the request a `?callback=` URL receives."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Response
from starlette.routing import BaseRoute

from wakeful.errors import NotFoundError
from wakeful.server.deps import Directory, ExistingSession, MessageID, RuntimeDep
from wakeful.server.routing import WireRoute
from wakeful.wire.webhooks import Delivery, PermissionAsked, RunEnded

router = APIRouter(tags=["session"], route_class=WireRoute)


@router.get("/session/{sessionID}/message/{messageID}/deliveries", operation_id="session.deliveries")
async def deliveries(
    runtime: RuntimeDep, directory: Directory, session: ExistingSession, message_id: MessageID
) -> list[Delivery]:
    """The webhook deliveries of the run of the prompt `messageID` (its end, its permission
    requests; to its `callback` and to the server's `--webhook-url`), oldest first, each with its
    status, attempts and the last attempt's outcome."""
    del directory
    run = await runtime.runs.stored(message_id)
    if run is None or run.session_id != session.id:
        raise NotFoundError(f"No prompt {message_id} in session {session.id}")
    return await runtime.webhooks.deliveries(message_id)


async def _delivery(
    body: Annotated[RunEnded | PermissionAsked, Body(discriminator="type")],
    x_wakeful_delivery: Annotated[str, Header(description="the delivery id, the same on every attempt")],
    x_wakeful_event: Annotated[str, Header(description="the body's `type`")],
    x_wakeful_timestamp: Annotated[str, Header(description="Unix seconds of this attempt")],
    x_wakeful_signature: Annotated[
        str,
        Header(
            description="`sha256=` and the hex HMAC-SHA256 of the timestamp, `.` and the body, keyed with "
            "the webhook secret"
        ),
    ],
) -> None:
    """A run's end (`run.finished`, `run.failed`) or a permission request of its run
    (`permission.asked`), signed (docs/webhooks.md)."""


def callbacks(operation: str) -> list[BaseRoute]:
    """The OpenAPI callback of a route that takes `?callback=`: the request that URL receives.
    Nothing serves it; each route gets its own copy, under an operation id of its own."""
    receiver = APIRouter(route_class=WireRoute)
    receiver.add_api_route(
        "{$request.query.callback}",
        _delivery,
        methods=["POST"],
        name="delivery",
        operation_id=f"{operation}.callback",
        summary="Webhook delivery",
        response_class=Response,
        responses={
            200: {"description": "Received: a 2xx ends the delivery; anything else, or none, is retried"}
        },
    )
    return receiver.routes
