"""Typed dependencies of the routes: the runtime, the project directory, an existing session, ids.

A route declares what it needs (`runtime: RuntimeDep`, `session: ExistingSession`) and gets it
resolved, or the request refused (400 for a bad directory or id, 404 for an unknown session), before
its body runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, Query, Request
from fastapi import Path as PathParam

from wakeful import ids
from wakeful.errors import InvalidRequestError
from wakeful.run.runtime import Runtime
from wakeful.wire.sessions import Session

SessionID = Annotated[str, PathParam(alias="sessionID", pattern=ids.pattern("ses"))]
MessageID = Annotated[str, PathParam(alias="messageID", pattern=ids.pattern("msg"))]
# The largest `limit` a list takes: the largest integer a JavaScript client sends exactly. Larger
# values (1e300) are refused, not clamped.
LIMIT_MAX = 2**53 - 1


# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool of
# 40, and thousands of concurrent calls would queue there before their headers could go out.
# The other dependencies take the request and find the runtime through it rather than depend on
# RuntimeDep: each nested dependency costs FastAPI a resolution on every request, and the routes
# that start runs are the ones a burst hits.
def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.wakeful
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


DirectoryQuery = Annotated[str | None, Query()]
WorkspaceQuery = Annotated[str | None, Query()]
DirectoryHeader = Annotated[str | None, Header()]


def resolve_directory(runtime: Runtime, directory: str | None, header: str | None) -> Path:
    """`?directory=` wins over the URL-encoded `x-opencode-directory` header; neither means the
    server's project."""
    raw = directory if directory is not None else header
    if raw is None or raw == "":
        return runtime.config.project_dir
    value = unquote(raw) if directory is None else raw
    path = Path(value)
    if not path.is_absolute():
        raise InvalidRequestError(f"directory must be an absolute path: {value}", field="directory")
    # One stat of a local directory: cheaper inline than a hop to a thread.
    try:
        found = path.is_dir()
    except OSError:  # a name too long, a parent the server may not search
        found = False
    if not found:
        raise InvalidRequestError(f"directory does not exist: {value[:4096]}", field="directory")
    return Path(os.path.normpath(path))


async def get_directory(
    request: Request,
    directory: DirectoryQuery = None,
    workspace: WorkspaceQuery = None,
    x_opencode_directory: DirectoryHeader = None,
) -> Path:
    del workspace  # accepted as the reference does, and ignored
    return resolve_directory(runtime_of(request), directory, x_opencode_directory)


Directory = Annotated[Path, Depends(get_directory)]


async def get_existing_session(request: Request, session_id: SessionID) -> Session:
    return await runtime_of(request).sessions.get(session_id)


ExistingSession = Annotated[Session, Depends(get_existing_session)]


async def get_known_session(request: Request, session_id: SessionID) -> Session:
    """A session from the in-memory index (a read on a miss): the routes that start runs refuse an
    unknown session without a store read, so their headers go out at once."""
    return await runtime_of(request).sessions.lookup(session_id)


KnownSession = Annotated[Session, Depends(get_known_session)]
