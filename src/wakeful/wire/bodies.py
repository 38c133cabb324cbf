"""Request bodies of the routes that start runs: prompt, command, shell and summarize."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from wakeful.wire.base import Wire
from wakeful.wire.messages import ModelRef, OutputFormat

MessageIDField = Annotated[str | None, Field(default=None, pattern=r"^msg")]
PartIDField = Annotated[str | None, Field(default=None, pattern=r"^prt")]
LEGACY_MODEL = frozenset({"providerID", "modelID"})


class TextPartInput(Wire):
    id: PartIDField = None
    type: Literal["text"]
    text: str
    synthetic: bool | None = None
    ignored: bool | None = None
    time: dict[str, int] | None = None
    metadata: dict[str, Any] | None = None


class FilePartInput(Wire):
    id: PartIDField = None
    type: Literal["file"]
    mime: str
    filename: str | None = None
    url: str
    source: dict[str, Any] | None = None


class AgentPartInput(Wire):
    id: PartIDField = None
    type: Literal["agent"]
    name: str
    source: dict[str, Any] | None = None


class SubtaskPartInput(Wire):
    id: PartIDField = None
    type: Literal["subtask"]
    prompt: str
    description: str
    agent: str
    model: ModelRef | None = None
    command: str | None = None


PartInput = Annotated[
    TextPartInput | FilePartInput | AgentPartInput | SubtaskPartInput, Field(discriminator="type")
]


class PromptModel(Wire):
    providerID: str
    modelID: str


class PromptBody(Wire):
    messageID: MessageIDField = None
    model: PromptModel | None = None
    agent: str | None = None
    noReply: bool | None = None
    tools: dict[str, bool] | None = None
    format: OutputFormat | None = None
    system: str | None = None
    variant: str | None = None
    parts: list[PartInput]

    @model_validator(mode="before")
    @classmethod
    def _legacy_model(cls, data: Any) -> Any:
        """The older body of opencode's published Python SDK (`session.chat`, opencode-ai 0.1.0a36)
        names the model with top-level `providerID` and `modelID`. They are read as `model`, so the
        two forms run, and count as the same request, alike."""
        if not isinstance(data, dict) or not LEGACY_MODEL & data.keys():
            return data
        data = dict(data)
        legacy = {key: data.pop(key, None) for key in sorted(LEGACY_MODEL)}
        if None in legacy.values():
            raise PydanticCustomError(
                "model", "providerID and modelID name the model together: give both, or use model"
            )
        if data.get("model") not in (None, legacy):
            raise PydanticCustomError(
                "model", "the model is given twice: use model or providerID/modelID, not both"
            )
        data["model"] = legacy
        return data


class CommandBody(Wire):
    messageID: MessageIDField = None
    agent: str | None = None
    model: str | None = None  # "provider/model"
    arguments: str
    command: str
    variant: str | None = None
    parts: list[FilePartInput] | None = None


class ShellBody(Wire):
    messageID: MessageIDField = None
    agent: str
    model: PromptModel | None = None
    command: str


class SummarizeBody(Wire):
    """`POST /session/{id}/summarize`: compact the session now, with this model."""

    providerID: str
    modelID: str
    auto: bool | None = None
