"""Routes that run the agent: prompt, prompt_async, command, shell, abort, and the waits.

Every call that can outlast a client's patience answers through the keep-alive response. Anything
that can be refused is refused before it: the submission (validation, resolution, the idempotency
claim) happens first, and only an accepted run gets a 200.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from wakeful.errors import InvalidRequestError, MessageAbortedError, NotFoundError
from wakeful.project.commands import resolve_command
from wakeful.run.manager import Reply, RunHandle, RunRequest
from wakeful.run.prompt import build_run, command_prompt
from wakeful.run.runtime import Runtime
from wakeful.run.shell import build_shell_run
from wakeful.server.deps import Directory, MessageID, SessionID, State
from wakeful.server.keepalive import HEADER, KeepAliveResponse, requested_interval
from wakeful.wire.bodies import CommandBody, PromptBody, ShellBody

router = APIRouter(tags=["session"])
HELD: dict[str, Any] = {
    "response_model": None,
    "responses": {
        200: {
            "description": "Headers at once, then one newline per keep-alive interval, then one JSON document",
            "content": {"application/json": {}},
            "headers": {
                HEADER: {
                    "description": "effective keep-alive interval, seconds",
                    "schema": {"type": "number"},
                }
            },
        }
    },
}
MESSAGE_HEADER = "X-Wakeful-Message-ID"


@dataclass
class HoldOptions:
    """How a long call is held, parsed (and refused) before anything runs."""

    interval: float
    abort_on_disconnect: bool
    deadline: float | None


async def hold_options(
    state: State,
    request: Request,
    on_disconnect: Annotated[str | None, Query()] = None,
    deadline: Annotated[float | None, Query(gt=0)] = None,
) -> HoldOptions:
    if on_disconnect not in (None, "", "continue", "abort"):
        raise InvalidRequestError("on_disconnect must be 'continue' or 'abort'", field="on_disconnect")
    interval = state.config.clamp_keepalive(requested_interval(request.headers.get(HEADER)))
    return HoldOptions(interval, on_disconnect == "abort", deadline)


Held = Annotated[HoldOptions, Depends(hold_options)]


def _hold(outcome: RunHandle | Reply, options: HoldOptions, message_id: str) -> KeepAliveResponse:
    headers = {MESSAGE_HEADER: message_id}
    if isinstance(outcome, RunHandle):
        handle = outcome

        def disconnect() -> None:
            if options.abort_on_disconnect:
                handle.cancel(MessageAbortedError("The client disconnected"))

        return KeepAliveResponse(handle.wait(), options.interval, headers=headers, on_disconnect=disconnect)
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    done.set_result(outcome)
    return KeepAliveResponse(done, options.interval, headers=headers)


async def _submit(state: Runtime, run: RunRequest, options: HoldOptions) -> KeepAliveResponse:
    return _hold(await state.runs.submit(run), options, run.message_id)


@router.post("/session/{sessionID}/message", operation_id="session.prompt", **HELD)
async def prompt(
    state: State, held: Held, directory: Directory, session_id: SessionID, body: Annotated[PromptBody, Body()]
) -> KeepAliveResponse:
    session = await state.sessions.get(session_id)
    return await _submit(state, build_run(state, session, directory, body, deadline=held.deadline), held)


@router.post("/session/{sessionID}/prompt_async", operation_id="session.prompt_async", status_code=204)
async def prompt_async(
    state: State,
    directory: Directory,
    session_id: SessionID,
    body: Annotated[PromptBody, Body()],
    deadline: Annotated[float | None, Query(gt=0)] = None,
) -> Response:
    session = await state.sessions.get(session_id)
    run = build_run(state, session, directory, body, deadline=deadline)
    await state.runs.submit(run)
    return Response(status_code=204, headers={MESSAGE_HEADER: run.message_id})


@router.post("/session/{sessionID}/command", operation_id="session.command", **HELD)
async def command(
    state: State,
    held: Held,
    directory: Directory,
    session_id: SessionID,
    body: Annotated[CommandBody, Body()],
) -> KeepAliveResponse:
    session = await state.sessions.get(session_id)
    prompt_body = command_prompt(resolve_command(state.projects.load(directory), body.command), body)
    run = build_run(state, session, directory, prompt_body, kind="command", deadline=held.deadline)
    return await _submit(state, run, held)


@router.post("/session/{sessionID}/shell", operation_id="session.shell", **HELD)
async def shell(
    state: State, held: Held, directory: Directory, session_id: SessionID, body: Annotated[ShellBody, Body()]
) -> KeepAliveResponse:
    session = await state.sessions.get(session_id)
    return await _submit(
        state, build_shell_run(state, session, directory, body, deadline=held.deadline), held
    )


@router.post("/session/{sessionID}/abort", operation_id="session.abort")
async def abort(state: State, directory: Directory, session_id: SessionID) -> bool:
    del directory
    await state.sessions.get(session_id)
    return await state.runs.abort(session_id)


@router.get("/session/{sessionID}/message/{messageID}/reply", operation_id="session.reply", **HELD)
async def reply(
    state: State, held: Held, directory: Directory, session_id: SessionID, message_id: MessageID
) -> KeepAliveResponse:
    """Wait for the run of the prompt `messageID` and answer what `/message` answered."""
    del directory
    await state.sessions.get(session_id)
    handle = state.runs.live(message_id)
    if handle is not None and handle.session_id == session_id:
        return _hold(handle, held, message_id)
    run = await state.runs.stored(message_id)
    if run is None or run.session_id != session_id:
        raise NotFoundError(f"No prompt {message_id} in session {session_id}")
    return _hold(await state.messages.answer(session_id, message_id), held, message_id)


@router.get("/session/{sessionID}/wait", operation_id="session.wait", **HELD)
async def wait(state: State, held: Held, directory: Directory, session_id: SessionID) -> KeepAliveResponse:
    """Hold until the session has nothing running or queued; answer the session."""
    del directory
    await state.sessions.get(session_id)

    async def idle() -> dict[str, Any]:
        await state.runs.idle(session_id)
        return (await state.sessions.get(session_id)).wire()

    return KeepAliveResponse(idle(), held.interval)
