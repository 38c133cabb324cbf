"""Messages of a session: a user message (the prompt) and the assistant messages answering it.

Every assistant message has `parentID` = the user message it answers; one agent run stores one
assistant message per LLM call, and the last one is the run's answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from wakeful import ids
from wakeful.wire.base import Number, Wire
from wakeful.wire.parts import Part, Tokens


class ModelRef(Wire):
    providerID: str
    modelID: str
    variant: str | None = None


class OutputFormatText(Wire):
    type: Literal["text"]


class OutputFormatJsonSchema(Wire):
    """Structured output: the answer is a JSON value that `schema` accepts, stored in the assistant
    message's `structured`; the model gets `retryCount` chances to correct an answer that does not
    validate."""

    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")
    retryCount: int | None = Field(default=None, ge=0)


OutputFormat = Annotated[OutputFormatText | OutputFormatJsonSchema, Field(discriminator="type")]


class UserTime(Wire):
    created: int


class UserSummary(Wire):
    title: str | None = None
    body: str | None = None
    diffs: list[dict[str, Any]] = Field(default_factory=list)


class UserMessage(Wire):
    id: str
    sessionID: str
    role: Literal["user"] = "user"
    time: UserTime
    format: OutputFormat | None = None
    summary: UserSummary | None = None
    agent: str
    model: ModelRef
    system: str | None = None
    tools: dict[str, bool] | None = None


class AssistantTime(Wire):
    created: int
    completed: int | None = None


class MessagePath(Wire):
    cwd: str
    root: str


class AssistantMessage(Wire):
    id: str
    sessionID: str
    role: Literal["assistant"] = "assistant"
    time: AssistantTime
    error: dict[str, Any] | None = None
    parentID: str
    modelID: str
    providerID: str
    mode: str
    agent: str
    path: MessagePath
    summary: bool | None = None
    cost: Number = 0
    tokens: Tokens = Field(default_factory=Tokens)
    structured: Any = None
    variant: str | None = None
    finish: str | None = None

    @classmethod
    def answering(
        cls, session_id: str, parent_id: str, provider_id: str, model_id: str, agent: str, directory: str
    ) -> AssistantMessage:
        """A new, empty assistant message answering the user message `parent_id`."""
        return cls(
            id=ids.message_id(),
            sessionID=session_id,
            time=AssistantTime(created=ids.now_ms()),
            parentID=parent_id,
            modelID=model_id,
            providerID=provider_id,
            mode=agent,
            agent=agent,
            path=MessagePath(cwd=directory, root=directory),
        )


Message = Annotated[UserMessage | AssistantMessage, Field(discriminator="role")]

MESSAGE_ADAPTER: TypeAdapter[UserMessage | AssistantMessage] = TypeAdapter(Message)
PART_ADAPTER: TypeAdapter[Part] = TypeAdapter(Part)


class MessageWithParts(Wire):
    info: Message
    parts: list[Part] = Field(default_factory=list)
