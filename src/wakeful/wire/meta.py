"""What the server says about itself and a project: health, config, agents, commands, providers.

Shaped like the reference's schemas of the same names; fields the reference has but wakeful never
sends are left out. Field order is the order on the wire.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import RootModel

from wakeful.wire.base import Number, Wire
from wakeful.wire.permissions import PermissionRule


class Health(Wire):
    healthy: Literal[True]
    version: str


class Ready(Wire):
    """`GET /global/ready` while the server takes work: not draining, and its store answers."""

    ready: Literal[True]


class Config(RootModel[dict[str, Any]]):
    """The project's merged opencode configuration (`opencode.json` and friends), as loaded: an
    object with the reference's `Config` keys, passed through unchanged."""


class AgentModel(Wire):
    providerID: str
    modelID: str


class Agent(Wire):
    name: str
    description: str | None = None
    mode: Literal["subagent", "primary", "all"]
    native: bool
    hidden: bool
    permission: list[PermissionRule]
    options: dict[str, Any]
    prompt: str | None = None
    temperature: Number | None = None
    topP: Number | None = None
    steps: Number | None = None
    model: AgentModel | None = None
    variant: str | None = None


class Command(Wire):
    name: str
    source: Literal["command", "mcp", "skill"]
    template: str
    description: str | None = None
    agent: str | None = None
    model: str | None = None
    subtask: bool | None = None
    hints: list[str]


class ModelAPI(Wire):
    id: str
    url: str
    npm: str


class Modalities(Wire):
    text: bool
    audio: bool
    image: bool
    video: bool
    pdf: bool


class InterleavedField(Wire):
    field: str


class ModelCapabilities(Wire):
    temperature: bool
    reasoning: bool
    attachment: bool
    toolcall: bool
    input: Modalities
    output: Modalities
    interleaved: bool | InterleavedField


class CostCache(Wire):
    read: Number
    write: Number


class ModelCost(Wire):
    input: Number
    output: Number
    cache: CostCache
    tiers: list[dict[str, Any]] | None = None
    experimentalOver200K: dict[str, Any] | None = None


class ModelLimit(Wire):
    context: Number
    output: Number
    input: Number | None = None


class ProviderModel(Wire):
    """The reference's `Model`: one model of a provider."""

    id: str
    providerID: str
    api: ModelAPI
    name: str
    capabilities: ModelCapabilities
    cost: ModelCost
    limit: ModelLimit
    status: Literal["alpha", "beta", "deprecated", "active"]
    options: dict[str, Any]
    headers: dict[str, str]
    release_date: str
    variants: dict[str, dict[str, Any]] | None = None


class Provider(Wire):
    id: str
    name: str
    source: Literal["env", "config", "custom", "api"]
    env: list[str]
    options: dict[str, Any]
    models: dict[str, ProviderModel]


class ProviderList(Wire):
    """`GET /provider`: every configured provider, each one's default model, the usable ones."""

    all: list[Provider]
    default: dict[str, str]
    connected: list[str]


class ConfigProviders(Wire):
    """`GET /config/providers`: the configured providers and each one's default model."""

    providers: list[Provider]
    default: dict[str, str]
