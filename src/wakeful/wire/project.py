"""A project as opencode's UIs see it: its paths, the project itself, version control, changed files.

Shaped like the reference's `Path`, `Project`, `VcsInfo`, `File` and `SnapshotFileDiff`. A wakeful
project is a directory (every Session's `projectID` is derived from it); git supplies the worktree,
the branches and the changes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wakeful.wire.base import Wire

ChangeStatus = Literal["added", "deleted", "modified"]


class PathInfo(Wire):
    """`GET /path`: the user's home, wakeful's state (data) directory, the opencode config directory,
    the git worktree root ("/" outside a git repository, as the reference) and the directory asked
    about."""

    home: str
    state: str
    config: str
    worktree: str
    directory: str


class ProjectTime(Wire):
    created: int = Field(ge=0)
    updated: int = Field(ge=0)


class Project(Wire):
    """`id` is the projectID of the project's sessions; `worktree` the git worktree root, "/" outside
    a git repository; `time` spans the project's sessions (now, for a project without any)."""

    id: str
    worktree: str
    vcs: Literal["git"] | None = None
    time: ProjectTime
    sandboxes: list[str]


class ProjectDirectory(Wire):
    directory: str
    strategy: str | None = None


class VcsInfo(Wire):
    """The checked-out branch and the repository's default branch; both null outside a git
    repository or when git cannot tell (a detached HEAD, no default)."""

    branch: str | None
    default_branch: str | None


class FileStatus(Wire):
    """One file that differs from HEAD: lines added and removed (an untracked file's lines are all
    added)."""

    path: str
    added: int = Field(ge=0)
    removed: int = Field(ge=0)
    status: ChangeStatus


class FileDiff(Wire):
    """One changed file with its unified diff (left out when binary or too large)."""

    file: str
    patch: str | None = None
    additions: int = Field(ge=0)
    deletions: int = Field(ge=0)
    status: ChangeStatus
