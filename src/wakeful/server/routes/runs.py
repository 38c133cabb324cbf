"""Routes that run the agent: prompt, prompt_async, command, shell, summarize, abort, and the waits.

Every call that can outlast a client's patience answers through the keep-alive response. Anything
that can be refused is refused before it: the submission (validation, resolution, the idempotency
claim) happens first, and only an accepted run gets a 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from wakeful.errors import InvalidRequestError, MessageAbortedError, NotFoundError
from wakeful.project.commands import resolve_command
from wakeful.run.manager import RemoteRun, Reply, RunHandle, RunRequest
from wakeful.run.prompt import build_run, build_summarize_run, command_prompt
from wakeful.run.runtime import Runtime
from wakeful.run.shell import build_shell_run
from wakeful.server.collector import CollectorPause
from wakeful.server.deps import (
    Directory,
    DirectoryHeader,
    DirectoryQuery,
    ExistingSession,
    KnownSession,
    MessageID,
    RuntimeDep,
    SessionID,
    WorkspaceQuery,
    resolve_directory,
    runtime_of,
)
from wakeful.server.keepalive import HEADER, KeepAliveResponse, requested_interval
from wakeful.server.limits import prompt_size
from wakeful.server.routes.webhooks import callbacks
from wakeful.server.routing import FastPath, WireRequest, WireRoute, fast_path, is_json
from wakeful.telemetry.metrics import Metrics
from wakeful.wire.base import Wire
from wakeful.wire.bodies import CommandBody, PromptBody, ShellBody, SummarizeBody
from wakeful.wire.messages import MessageWithParts
from wakeful.wire.sessions import Session

router = APIRouter(tags=["session"], route_class=WireRoute)
BodyT = TypeVar("BodyT", bound=BaseModel)
MESSAGE_HEADER = "X-Wakeful-Message-ID"
# The error of a run that failed, as its assistant message carries it.
RUN_ERROR = {
    "type": "object",
    "required": ["name", "data"],
    "properties": {"name": {"type": "string"}, "data": {"type": "object"}},
}
# The size limits of a body that starts a run, checked before the body is validated.
SIZED = [Depends(prompt_size)]


def held(answer: type[Wire]) -> dict[str, Any]:
    """The route options of a long call whose JSON document is an `answer`. The route returns the
    keep-alive response itself, so the answer is documented but never validated a second time."""
    return {
        "response_model": None,
        "responses": {
            200: {
                "model": answer,
                "description": (
                    "Headers at once, then one newline per keep-alive interval, then one JSON "
                    'document; a failure after the headers ends it with {"name":"UnknownError",'
                    '"data":{"message"}} instead'
                ),
                "headers": {
                    HEADER: {
                        "description": "effective keep-alive interval, seconds",
                        "schema": {"type": "number"},
                    }
                },
            }
        },
    }


@dataclass
class HoldOptions:
    """How a long call is held, parsed (and refused) before anything runs."""

    interval: float
    abort_on_disconnect: bool
    deadline: float | None
    permission_timeout: float | None
    metrics: Metrics  # counts the held call


OnDisconnect = Annotated[str | None, Query()]
Deadline = Annotated[float | None, Query(gt=0, allow_inf_nan=False)]
PermissionTimeout = Annotated[float | None, Query(gt=0)]
CallbackURL = Annotated[
    str | None,
    Query(
        description="wakeful: a URL the run's end (and its permission requests) is posted to, signed "
        "(docs/webhooks.md); refused (400) unless the webhook allow-list allows it (default: loopback)"
    ),
]


def _hold_options(
    request: Request, on_disconnect: str | None, deadline: float | None, permission_timeout: float | None
) -> HoldOptions:
    if on_disconnect not in (None, "", "continue", "abort"):
        raise InvalidRequestError("on_disconnect must be 'continue' or 'abort'", field="on_disconnect")
    runtime = runtime_of(request)
    interval = runtime.config.clamp_keepalive(requested_interval(request.headers.get(HEADER)))
    return HoldOptions(interval, on_disconnect == "abort", deadline, permission_timeout, runtime.metrics)


async def hold_options(
    request: Request,
    on_disconnect: OnDisconnect = None,
    deadline: Deadline = None,
    permission_timeout: PermissionTimeout = None,
) -> HoldOptions:
    return _hold_options(request, on_disconnect, deadline, permission_timeout)


Held = Annotated[HoldOptions, Depends(hold_options)]


async def _callback(runtime: Runtime, callback: str | None) -> str | None:
    # Apart from the long calls' options: the waits take those, and have no run to report.
    return await runtime.webhooks.allow.accept(callback) if callback else None


async def callback_url(request: Request, callback: CallbackURL = None) -> str | None:
    return await _callback(runtime_of(request), callback)


Callback = Annotated[str | None, Depends(callback_url)]


class HeldQuery(BaseModel):
    """The query of the routes that start a held run, one model: FastAPI documents each field as a
    query parameter, and the fast path validates them all in one call."""

    on_disconnect: OnDisconnect = None
    deadline: Deadline = None
    permission_timeout: PermissionTimeout = None
    callback: CallbackURL = None
    directory: DirectoryQuery = None
    workspace: WorkspaceQuery = None  # accepted as the reference does, and ignored


@dataclass(frozen=True, slots=True)
class HeldRun:
    """What the routes that start a held run (prompt, command, shell) need before their body."""

    runtime: Runtime
    options: HoldOptions
    callback: str | None
    directory: Path
    session: Session


async def _held_run(request: Request, session_id: str, query: HeldQuery, header: str | None) -> HeldRun:
    """Checked in the order the separate dependencies were: the body's sizes, the hold options, the
    callback, the directory, the session (from the index)."""
    # A burst's calls are read together, and each would then run to its claim in one step of the
    # loop: the keep-alives of the calls already held would wait for all of them. Halfway, the loop
    # gets a turn.
    await asyncio.sleep(0)
    runtime = runtime_of(request)
    await prompt_size(request)
    options = _hold_options(request, query.on_disconnect, query.deadline, query.permission_timeout)
    url = await _callback(runtime, query.callback)
    path = resolve_directory(runtime, query.directory, header)
    session = await runtime.sessions.lookup(session_id)
    return HeldRun(runtime, options, url, path, session)


async def held_run(
    request: Request,
    session_id: SessionID,
    query: Annotated[HeldQuery, Query()],
    x_opencode_directory: DirectoryHeader = None,
) -> HeldRun:
    """One dependency instead of six: FastAPI solves every dependency anew on each request."""
    return await _held_run(request, session_id, query, x_opencode_directory)


_SESSION_ID: TypeAdapter[str] = TypeAdapter(SessionID)
ACCEPTING = CollectorPause()  # one per process, as the collector it pauses
HeldEndpoint = Callable[[HeldRun, BodyT], Awaitable[Response]]


def held_fast_path(body_type: type[BodyT]) -> Callable[[HeldEndpoint[BodyT]], FastPath]:
    """The fast path of a route `endpoint(call: Run, body: body_type)`: the request's path, query and
    body validated by the same types as the route's signature, `_held_run`, then the endpoint."""
    body_adapter = TypeAdapter(body_type)

    def wrap(endpoint: HeldEndpoint[BodyT]) -> FastPath:
        async def fast(request: WireRequest) -> Response | None:
            if not is_json(request):
                return None
            with ACCEPTING:
                return await accept(request)

        async def accept(request: WireRequest) -> Response | None:
            try:
                session_id = _SESSION_ID.validate_python(request.path_params.get("sessionID"))
                query = HeldQuery.model_validate(request.query_params)
                await request.json()
            except ValueError:  # pydantic's ValidationError and JSON's decoding errors alike
                return None
            call = await _held_run(request, session_id, query, request.headers.get("x-opencode-directory"))
            try:
                body = body_adapter.validate_python(request.decoded())
            except ValidationError:
                return None
            return await endpoint(call, body)

        return fast

    return wrap


Run = Annotated[HeldRun, Depends(held_run)]


def _hold(outcome: RunHandle | RemoteRun | Reply, options: HoldOptions, message_id: str) -> KeepAliveResponse:
    headers = {MESSAGE_HEADER: message_id}
    if isinstance(outcome, RunHandle | RemoteRun):
        handle = outcome

        def disconnect() -> None:
            if options.abort_on_disconnect:
                handle.cancel(MessageAbortedError("The client disconnected"))

        # The run's own future, watched, not a wait for it: a held call keeps no task of its own.
        return KeepAliveResponse(
            handle.reply, options.interval, headers=headers, on_disconnect=disconnect, metrics=options.metrics
        )
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    done.set_result(outcome)
    return KeepAliveResponse(done, options.interval, headers=headers, metrics=options.metrics)


async def _submit(call: HeldRun, run: RunRequest) -> KeepAliveResponse:
    outcome = await call.runtime.runs.submit(replace(run, callback=call.callback))
    return _hold(outcome, call.options, run.message_id)


@router.post(
    "/session/{sessionID}/message",
    operation_id="session.prompt",
    callbacks=callbacks("session.prompt"),
    **held(MessageWithParts),
)
@fast_path(held_fast_path(PromptBody))
async def prompt(call: Run, body: Annotated[PromptBody, Body()]) -> KeepAliveResponse:
    options = call.options
    run = build_run(
        call.runtime,
        call.session,
        call.directory,
        body,
        deadline=options.deadline,
        permission_timeout=options.permission_timeout,
    )
    return await _submit(call, run)


@router.post(
    "/session/{sessionID}/prompt_async",
    operation_id="session.prompt_async",
    status_code=204,
    dependencies=SIZED,
    callbacks=callbacks("session.prompt_async"),
)
async def prompt_async(
    runtime: RuntimeDep,
    callback: Callback,
    directory: Directory,
    session: KnownSession,
    body: Annotated[PromptBody, Body()],
    deadline: Deadline = None,
    permission_timeout: PermissionTimeout = None,
) -> Response:
    run = build_run(
        runtime, session, directory, body, deadline=deadline, permission_timeout=permission_timeout
    )
    await runtime.runs.submit(replace(run, callback=callback))
    return Response(status_code=204, headers={MESSAGE_HEADER: run.message_id})


@router.post(
    "/session/{sessionID}/command",
    operation_id="session.command",
    callbacks=callbacks("session.command"),
    **held(MessageWithParts),
)
@fast_path(held_fast_path(CommandBody))
async def command(call: Run, body: Annotated[CommandBody, Body()]) -> KeepAliveResponse:
    config = call.runtime.projects.load(call.directory)
    prompt_body = command_prompt(resolve_command(config, body.command), body, config)
    run = build_run(
        call.runtime,
        call.session,
        call.directory,
        prompt_body,
        kind="command",
        deadline=call.options.deadline,
        permission_timeout=call.options.permission_timeout,
    )
    return await _submit(call, run)


@router.post(
    "/session/{sessionID}/shell",
    operation_id="session.shell",
    callbacks=callbacks("session.shell"),
    **held(MessageWithParts),
)
@fast_path(held_fast_path(ShellBody))
async def shell(call: Run, body: Annotated[ShellBody, Body()]) -> KeepAliveResponse:
    run = build_shell_run(call.runtime, call.session, call.directory, body, deadline=call.options.deadline)
    return await _submit(call, run)


@router.post(
    "/session/{sessionID}/summarize",
    operation_id="session.summarize",
    response_model=None,
    responses={
        200: {
            "content": {"application/json": {"schema": {"anyOf": [{"type": "boolean"}, RUN_ERROR]}}},
            "description": (
                "true once the summary is stored; held with keep-alive newlines like /message, and "
                'a summary that failed ends the body with its error ({"name","data"}) instead'
            ),
        }
    },
)
async def summarize(
    runtime: RuntimeDep,
    options: Held,
    directory: Directory,
    session: KnownSession,
    body: Annotated[SummarizeBody, Body()],
) -> KeepAliveResponse:
    """Compact the session now: summarise its history with the given model (queued behind a run)."""
    run = build_summarize_run(runtime, session, directory, body, deadline=options.deadline)
    outcome = await runtime.runs.submit(run)
    assert isinstance(outcome, RunHandle), "a summarize run always has a new message id"

    async def done() -> Any:
        reply = await outcome.wait()
        error = reply.get("info", {}).get("error")
        return error if error else True

    return KeepAliveResponse(done(), options.interval, headers={MESSAGE_HEADER: run.message_id})


@router.post("/session/{sessionID}/abort", operation_id="session.abort")
async def abort(runtime: RuntimeDep, directory: Directory, session: ExistingSession) -> bool:
    """True once nothing runs or waits in the session, as the reference answers: an idle session
    is already what an abort asks for."""
    del directory
    await runtime.runs.abort(session.id)
    return True


@router.get(
    "/session/{sessionID}/message/{messageID}/reply", operation_id="session.reply", **held(MessageWithParts)
)
async def reply(
    runtime: RuntimeDep,
    options: Held,
    directory: Directory,
    session: ExistingSession,
    message_id: MessageID,
) -> KeepAliveResponse:
    """Wait for the run of the prompt `messageID` and answer what `/message` answered."""
    del directory
    outcome = await runtime.runs.follow(session.id, message_id)
    if outcome is None:
        raise NotFoundError(f"No prompt {message_id} in session {session.id}")
    return _hold(outcome, options, message_id)


@router.get("/session/{sessionID}/wait", operation_id="session.wait", **held(Session))
async def wait(
    runtime: RuntimeDep, options: Held, directory: Directory, session: ExistingSession
) -> KeepAliveResponse:
    """Hold until the session has nothing running or queued; answer the session as it is then."""
    del directory

    async def idle() -> dict[str, Any]:
        await runtime.runs.idle(session.id)
        return (await runtime.sessions.get(session.id)).wire()

    return KeepAliveResponse(idle(), options.interval, metrics=options.metrics)
