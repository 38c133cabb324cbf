"""Request bodies of the routes that start runs: prompt, command, shell and summarize.

A prompt's parts are the stored parts' content (`wakeful.wire.parts`) plus an optional id of the
client's choosing; ids follow `wakeful.ids.pattern`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from wakeful.wire.base import MessageIDText, PartIDText, Wire
from wakeful.wire.messages import OutputFormat
from wakeful.wire.parts import AgentContent, FileContent, SubtaskContent, TextContent

LEGACY_MODEL = frozenset({"providerID", "modelID"})


class PartInput(Wire):
    """What every part of a prompt adds to its content: the id it is stored under, if the client
    chooses it (otherwise the server makes one)."""

    id: PartIDText | None = None


class TextPartInput(TextContent, PartInput):
    type: Literal["text"]


class FilePartInput(FileContent, PartInput):
    type: Literal["file"]


class AgentPartInput(AgentContent, PartInput):
    type: Literal["agent"]


class SubtaskPartInput(SubtaskContent, PartInput):
    type: Literal["subtask"]


AnyPartInput = Annotated[
    TextPartInput | FilePartInput | AgentPartInput | SubtaskPartInput, Field(discriminator="type")
]


P = TypeVar("P", bound=PartInput)


def _distinct_ids(parts: list[P]) -> list[P]:
    chosen = [p.id for p in parts if p.id is not None]
    if len(set(chosen)) != len(chosen):
        raise ValueError("two parts have the same id")
    return parts




class PromptModel(Wire):
    providerID: str
    modelID: str


class PromptBody(Wire):
    messageID: MessageIDText | None = None
    model: PromptModel | None = None
    agent: str | None = None
    noReply: bool | None = None
    tools: dict[str, bool] | None = None
    format: OutputFormat | None = None
    system: str | None = None
    variant: str | None = None
    parts: Annotated[list[AnyPartInput], AfterValidator(_distinct_ids)]

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
    messageID: MessageIDText | None = None
    agent: str | None = None
    model: str | None = None  # "provider/model"
    arguments: str
    command: str
    variant: str | None = None
    parts: Annotated[list[FilePartInput], AfterValidator(_distinct_ids)] | None = None


class ShellBody(Wire):
    messageID: MessageIDText | None = None
    agent: str
    model: PromptModel | None = None
    command: str


class SummarizeBody(Wire):
    """`POST /session/{id}/summarize`: compact the session now, with this model."""

    providerID: str
    modelID: str
    auto: bool | None = None
