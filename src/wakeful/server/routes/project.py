"""A project's paths, the project itself, and what git says about it: the routes opencode's UIs read
for the status bar, the project switcher and the diff view.

A wakeful project is a directory (its sessions' `projectID`); git answers the rest, run as an async
subprocess with the config's time and output limits. Outside a git repository the answers are the
reference's: worktree "/", no branches, no changed files.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from wakeful import ids
from wakeful.project.git import FileChange, Git
from wakeful.run.runtime import Runtime
from wakeful.server.deps import Directory, ExistingSession, RuntimeDep, runtime_of
from wakeful.server.routing import WireRoute
from wakeful.session.sessions import project_id
from wakeful.storage.base import ProjectRecord
from wakeful.wire.project import (
    FileDiff,
    FileStatus,
    PathInfo,
    Project,
    ProjectDirectory,
    ProjectTime,
    VcsInfo,
)

router = APIRouter(route_class=WireRoute)
OUTSIDE_GIT = "/"  # the reference's worktree for a directory outside any git repository
GIT_CONCURRENCY = 4  # git processes at once for one listing


async def get_git(request: Request) -> Git:
    config = runtime_of(request).config
    return Git.from_environ(config.environ, config.git_timeout, config.git_max_output)


GitDep = Annotated[Git, Depends(get_git)]


async def describe(runtime: Runtime, git: Git, directory: Path) -> Project:
    """The project of `directory`, with the time span of its stored sessions."""
    worktree = await git.worktree(directory)
    pid = project_id(directory)
    record = next((p for p in await runtime.sessions.projects() if p.id == pid), None)
    now = ids.now_ms()
    return Project(
        id=pid,
        worktree=str(worktree or OUTSIDE_GIT),
        vcs="git" if worktree else None,
        time=ProjectTime(
            created=record.created if record else now, updated=record.updated if record else now
        ),
        sandboxes=[],
    )


async def _listed(git: Git, record: ProjectRecord) -> Project:
    directory = Path(record.directory)
    # A project whose directory is gone is still listed, as outside git.
    worktree = await git.worktree(directory) if directory.is_dir() else None  # noqa: ASYNC240
    return Project(
        id=record.id,
        worktree=str(worktree or OUTSIDE_GIT),
        vcs="git" if worktree else None,
        time=ProjectTime(created=record.created, updated=record.updated),
        sandboxes=[],
    )


@router.get("/path", operation_id="path.get", tags=["path"])
async def get_path(runtime: RuntimeDep, git: GitDep, directory: Directory) -> PathInfo:
    worktree = await git.worktree(directory)
    return PathInfo(
        home=str(runtime.projects.home),
        state=str(runtime.config.data_dir),
        config=str(runtime.projects.global_dir),
        worktree=str(worktree or OUTSIDE_GIT),
        directory=str(directory),
    )


@router.get("/project", operation_id="project.list", tags=["project"])
async def list_projects(runtime: RuntimeDep, git: GitDep, directory: Directory) -> list[Project]:
    """The requested directory's project first, then every other project that has sessions, most
    recently updated first."""
    current = await describe(runtime, git, directory)
    others = [p for p in await runtime.sessions.projects() if p.id != current.id]
    gate = asyncio.Semaphore(GIT_CONCURRENCY)

    async def listed(record: ProjectRecord) -> Project:
        async with gate:
            return await _listed(git, record)

    return [current, *await asyncio.gather(*(listed(p) for p in others))]


@router.get("/project/current", operation_id="project.current", tags=["project"])
async def current_project(runtime: RuntimeDep, git: GitDep, directory: Directory) -> Project:
    return await describe(runtime, git, directory)


@router.get("/project/{projectID}/directories", operation_id="project.directories", tags=["project"])
async def project_directories(
    directory: Directory, project: Annotated[str, PathParam(alias="projectID")]
) -> list[ProjectDirectory]:
    """A project's other working directories (sandboxes, worktrees): wakeful makes none."""
    del directory, project
    return []


@router.get(
    "/vcs",
    operation_id="vcs.get",
    tags=["vcs"],
    response_model=VcsInfo,
    response_class=JSONResponse,
)
async def get_vcs(git: GitDep, directory: Directory) -> JSONResponse:
    # nulls are sent, not left out, as the reference does outside a repository
    info = VcsInfo(branch=await git.branch(directory), default_branch=await git.default_branch(directory))
    return JSONResponse(info.model_dump())


@router.get("/file/status", operation_id="file.status", tags=["file"])
async def file_status(git: GitDep, directory: Directory) -> list[FileStatus]:
    """The files of the worktree that differ from HEAD (untracked ones as added)."""
    return [
        FileStatus(path=c.path, added=c.added, removed=c.removed, status=c.status)
        for c in await git.changes(directory)
    ]


def _diff(change: FileChange) -> FileDiff:
    return FileDiff(
        file=change.path,
        patch=change.patch,
        additions=change.added,
        deletions=change.removed,
        status=change.status,
    )


@router.get("/session/{sessionID}/diff", operation_id="session.diff", tags=["session"])
async def session_diff(
    git: GitDep,
    directory: Directory,
    session: ExistingSession,
    message_id: Annotated[str | None, Query(alias="messageID", pattern=r"^msg")] = None,
) -> list[FileDiff]:
    """The uncommitted changes of the session's directory, with their patches: wakeful takes no
    snapshots, so this is every change git sees there, the session's own and any other, whatever
    `messageID` says."""
    del directory, message_id
    return [_diff(c) for c in await git.changes(Path(session.directory), patches=True)]
