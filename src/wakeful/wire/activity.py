"""What a session is doing: its status while it runs, and the todo list its agent keeps."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from wakeful.wire.base import Wire


class SessionIdle(Wire):
    type: Literal["idle"]


class SessionBusy(Wire):
    type: Literal["busy"]


class SessionRetry(Wire):
    """A provider call failed and is tried again at `next` (ms since the epoch)."""

    type: Literal["retry"]
    attempt: int = Field(ge=0)
    message: str
    next: int = Field(ge=0)


SessionStatus = Annotated[SessionIdle | SessionBusy | SessionRetry, Field(discriminator="type")]


class Todo(Wire):
    content: str = Field(description="Brief description of the task")
    status: str = Field(description="Current status of the task: pending, in_progress, completed, cancelled")
    priority: str = Field(description="Priority level of the task: high, medium, low")
