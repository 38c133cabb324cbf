"""The reads of the reference's `/api/*` (v2) routes that opencode's terminal UI makes at start-up.

Every answer is `{location, data}`: where the request was resolved (the directory and its project)
and a list. Shaped like the reference's `LocationInfo`, `AgentV2Info`, `ModelV2Info`,
`ProviderV2Info` and `CommandV2Info`; skills, references and integrations wakeful has none of.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import Field

from wakeful.wire.base import Number, Wire

T = TypeVar("T")


class LocationProject(Wire):
    id: str
    directory: str


class LocationInfo(Wire):
    directory: str
    project: LocationProject


class Located(Wire, Generic[T]):
    location: LocationInfo
    data: list[T]


class ModelRefV2(Wire):
    id: str
    providerID: str


class ProviderRequest(Wire):
    headers: dict[str, str]
    body: dict[str, Any]


class PermissionRuleV2(Wire):
    action: str
    resource: str
    effect: Literal["allow", "deny", "ask"]


class AgentV2Info(Wire):
    id: str
    model: ModelRefV2 | None = None
    request: ProviderRequest
    system: str | None = None
    description: str | None = None
    mode: Literal["subagent", "primary", "all"]
    hidden: bool
    steps: int | None = Field(default=None, gt=0)
    permissions: list[PermissionRuleV2]


class ModelApiV2(Wire):
    id: str
    type: Literal["aisdk"]
    package: str
    url: str | None = None


class ModelCapabilitiesV2(Wire):
    tools: bool
    input: list[str]
    output: list[str]


class ModelRequestV2(Wire):
    headers: dict[str, str]
    body: dict[str, Any]


class ModelTimeV2(Wire):
    released: Number


class CostCacheV2(Wire):
    read: Number
    write: Number


class ModelCostV2(Wire):
    input: Number
    output: Number
    cache: CostCacheV2


class ModelLimitV2(Wire):
    context: int
    input: int | None = None
    output: int


class ModelV2Info(Wire):
    id: str
    providerID: str
    name: str
    api: ModelApiV2
    capabilities: ModelCapabilitiesV2
    request: ModelRequestV2
    variants: list[dict[str, Any]]
    time: ModelTimeV2
    cost: list[ModelCostV2]
    status: Literal["alpha", "beta", "deprecated", "active"]
    enabled: bool
    limit: ModelLimitV2


class ProviderApiV2(Wire):
    type: Literal["aisdk"]
    package: str
    url: str | None = None


class ProviderV2Info(Wire):
    id: str
    name: str
    api: ProviderApiV2
    request: ProviderRequest


class CommandV2Info(Wire):
    name: str
    template: str
    description: str | None = None
    agent: str | None = None
    model: ModelRefV2 | None = None
    subtask: bool | None = None


class SkillV2Info(Wire):
    name: str
    description: str | None = None
    location: str
    content: str


class ReferenceInfo(Wire):
    name: str
    path: str
    description: str | None = None
    source: dict[str, Any]


class IntegrationInfo(Wire):
    id: str
    name: str
    methods: list[dict[str, Any]]
    connections: list[dict[str, Any]]
