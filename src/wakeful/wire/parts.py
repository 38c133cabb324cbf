"""Typed message parts, serialised exactly as the reference's `Part` schemas.

A tool part moves pending -> running -> completed | error; a step of the agent loop is framed by
`step-start` and `step-finish`. A completed tool part whose `time.compacted` is set was pruned: the
model sees a placeholder instead of its output.

The parts a prompt may carry (text, file, agent, subtask) are stored as they were sent, so each is defined
once, by its content (`TextContent`, ...): the stored part adds where it lives (`PartBase`), the
prompt's input adds an optional client-chosen id (`wakeful.wire.bodies`). Nothing is accepted that
the stored model would not read back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from wakeful.wire.base import Number, Wire


class CacheTokens(Wire):
    read: Number = 0
    write: Number = 0


class Tokens(Wire):
    total: Number | None = None
    input: Number = 0
    output: Number = 0
    reasoning: Number = 0
    cache: CacheTokens = Field(default_factory=CacheTokens)


class TimeSpan(Wire):
    start: int
    end: int | None = None


class PartBase(Wire):
    id: str
    sessionID: str
    messageID: str


# The content of the parts a prompt can carry. A stored part lists its bases content-last, so that
# its fields come out in the reference's order: id, sessionID, messageID, type, ...


class TextContent(Wire):
    type: Literal["text"] = "text"
    text: str
    synthetic: bool | None = None
    ignored: bool | None = None
    time: TimeSpan | None = None
    metadata: dict[str, Any] | None = None


class FileContent(Wire):
    type: Literal["file"] = "file"
    mime: str
    filename: str | None = None
    url: str
    source: dict[str, Any] | None = None


class AgentContent(Wire):
    type: Literal["agent"] = "agent"
    name: str
    source: dict[str, Any] | None = None


class SubtaskModel(Wire):
    providerID: str
    modelID: str


class SubtaskContent(Wire):
    """A prompt's request that a subagent do `prompt`; the run answers it with a task tool call."""

    type: Literal["subtask"] = "subtask"
    prompt: str
    description: str
    agent: str
    model: SubtaskModel | None = None
    command: str | None = None


class TextPart(TextContent, PartBase):
    pass


class ReasoningPart(PartBase):
    type: Literal["reasoning"] = "reasoning"
    text: str
    metadata: dict[str, Any] | None = None
    time: TimeSpan


class FilePart(FileContent, PartBase):
    pass


class AgentPart(AgentContent, PartBase):
    pass


class SubtaskPart(SubtaskContent, PartBase):
    pass


class ToolStatePending(Wire):
    status: Literal["pending"] = "pending"
    input: dict[str, Any] = Field(default_factory=dict)
    raw: str = ""


class ToolStateRunning(Wire):
    status: Literal["running"] = "running"
    input: dict[str, Any]
    title: str | None = None
    metadata: dict[str, Any] | None = None
    time: dict[str, int]


class ToolStateCompleted(Wire):
    status: Literal["completed"] = "completed"
    input: dict[str, Any]
    output: str
    title: str
    metadata: dict[str, Any]
    time: dict[str, int]
    attachments: list[FilePart] | None = None


class ToolStateError(Wire):
    status: Literal["error"] = "error"
    input: dict[str, Any]
    error: str
    metadata: dict[str, Any] | None = None
    time: dict[str, int]


ToolState = Annotated[
    ToolStatePending | ToolStateRunning | ToolStateCompleted | ToolStateError,
    Field(discriminator="status"),
]


class ToolPart(PartBase):
    type: Literal["tool"] = "tool"
    callID: str
    tool: str
    state: ToolState
    metadata: dict[str, Any] | None = None


class StepStartPart(PartBase):
    type: Literal["step-start"] = "step-start"
    snapshot: str | None = None


class StepFinishPart(PartBase):
    type: Literal["step-finish"] = "step-finish"
    reason: str
    snapshot: str | None = None
    cost: Number = 0
    tokens: Tokens = Field(default_factory=Tokens)


class CompactionPart(PartBase):
    """Marks a user message as a compaction request: the assistant message answering it (with
    `summary: true`) summarises the history before it, except the messages from `tail_start_id`
    on, which the model keeps seeing verbatim."""

    type: Literal["compaction"] = "compaction"
    auto: bool
    overflow: bool | None = None
    tail_start_id: str | None = None


Part = Annotated[
    TextPart
    | ReasoningPart
    | FilePart
    | AgentPart
    | SubtaskPart
    | ToolPart
    | StepStartPart
    | StepFinishPart
    | CompactionPart,
    Field(discriminator="type"),
]
