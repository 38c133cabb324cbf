"""The `/api/*` (v2) reads opencode's terminal UI makes at start-up: where a request is resolved, and
the agents, models, providers and commands there.

Each answers `{location, data}` for the directory of `?location[directory]=` (else the usual
`?directory=` or `x-opencode-directory`). The data are the v1 routes' (`/agent`, `/provider`,
`/command`) in the v2 shapes; wakeful has no skills, references or integrations. Provider keys are
never sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request

from wakeful.project.agents import load_agents
from wakeful.project.commands import load_commands
from wakeful.server.deps import Directory, RuntimeDep, get_directory
from wakeful.server.routes.project import OUTSIDE_GIT, GitDep
from wakeful.server.routing import WireRoute
from wakeful.session.sessions import project_id
from wakeful.wire.meta import ProviderModel
from wakeful.wire.v2 import (
    AgentV2Info,
    CommandV2Info,
    IntegrationInfo,
    Located,
    LocationInfo,
    LocationProject,
    ModelApiV2,
    ModelCapabilitiesV2,
    ModelCostV2,
    ModelLimitV2,
    ModelRefV2,
    ModelRequestV2,
    ModelTimeV2,
    ModelV2Info,
    ProviderApiV2,
    ProviderRequest,
    ProviderV2Info,
    ReferenceInfo,
    SkillV2Info,
)

router = APIRouter(route_class=WireRoute, tags=["v2"])
T = TypeVar("T")


async def get_location(
    request: Request,
    git: GitDep,
    fallback: Directory,
    directory: Annotated[str | None, Query(alias="location[directory]")] = None,
    workspace: Annotated[str | None, Query(alias="location[workspace]")] = None,
) -> LocationInfo:
    """`location[directory]` is checked like `?directory=`; `location[workspace]` is ignored."""
    del workspace
    where: Path = fallback if directory is None else await get_directory(request, directory=directory)
    worktree = await git.worktree(where)
    return LocationInfo(
        directory=str(where),
        project=LocationProject(id=project_id(where), directory=str(worktree or OUTSIDE_GIT)),
    )


Location = Annotated[LocationInfo, Depends(get_location)]


def _ref(model: str | None) -> ModelRefV2 | None:
    if not model or "/" not in model:
        return None
    provider, model_id = model.split("/", 1)
    return ModelRefV2(id=model_id, providerID=provider)


def _no_request() -> ProviderRequest:
    return ProviderRequest(headers={}, body={})


def _model(model: ProviderModel) -> ModelV2Info:
    capabilities = model.capabilities
    return ModelV2Info(
        id=model.id,
        providerID=model.providerID,
        name=model.name,
        api=ModelApiV2(id=model.api.id, type="aisdk", package=model.api.npm, url=model.api.url or None),
        capabilities=ModelCapabilitiesV2(
            tools=capabilities.toolcall,
            input=[kind for kind, on in capabilities.input.model_dump().items() if on],
            output=[kind for kind, on in capabilities.output.model_dump().items() if on],
        ),
        request=ModelRequestV2(headers=model.headers, body={}),
        variants=[],
        time=ModelTimeV2(released=0),
        cost=[ModelCostV2.model_validate(model.cost.model_dump(include={"input", "output", "cache"}))],
        status=model.status,
        enabled=True,
        limit=ModelLimitV2(context=int(model.limit.context), output=int(model.limit.output)),
    )


def _located(location: LocationInfo, data: list[T]) -> Located[T]:
    return Located[T](location=location, data=data)


@router.get("/api/location", operation_id="v2.location.get")
async def location(where: Location) -> LocationInfo:
    return where


@router.get("/api/agent", operation_id="v2.agent.list")
async def agents(runtime: RuntimeDep, where: Location) -> Located[AgentV2Info]:
    found = load_agents(runtime.projects.load(Path(where.directory))).values()
    return _located(
        where,
        [
            AgentV2Info(
                id=a.name,
                model=_ref(a.model),
                request=_no_request(),
                system=a.prompt or None,
                description=a.description or None,
                mode=a.mode,
                hidden=a.hidden,
                steps=a.steps,
                permissions=[],
            )
            for a in found
        ],
    )


@router.get("/api/model", operation_id="v2.model.list")
async def models(runtime: RuntimeDep, where: Location) -> Located[ModelV2Info]:
    return _located(
        where,
        [
            _model(ProviderModel.model_validate(model))
            for provider in runtime.catalog(Path(where.directory)).providers_wire()
            for model in provider["models"].values()
        ],
    )


@router.get("/api/provider", operation_id="v2.provider.list")
async def providers(runtime: RuntimeDep, where: Location) -> Located[ProviderV2Info]:
    catalog = runtime.catalog(Path(where.directory))
    return _located(
        where,
        [
            ProviderV2Info(
                id=p.id,
                name=p.name,
                api=ProviderApiV2(type="aisdk", package=p.npm, url=p.base_url),
                request=_no_request(),
            )
            for p in catalog.providers.values()
        ],
    )


@router.get("/api/command", operation_id="v2.command.list")
async def commands(runtime: RuntimeDep, where: Location) -> Located[CommandV2Info]:
    found = load_commands(runtime.projects.load(Path(where.directory))).values()
    return _located(
        where,
        [
            CommandV2Info(
                name=c.name,
                template=c.template,
                description=c.description,
                agent=c.agent,
                model=_ref(c.model),
                subtask=c.subtask,
            )
            for c in found
        ],
    )


@router.get("/api/skill", operation_id="v2.skill.list")
async def skills(where: Location) -> Located[SkillV2Info]:
    return _located(where, [])


@router.get("/api/reference", operation_id="v2.reference.list")
async def references(where: Location) -> Located[ReferenceInfo]:
    return _located(where, [])


@router.get("/api/integration", operation_id="v2.integration.list")
async def integrations(where: Location) -> Located[IntegrationInfo]:
    return _located(where, [])
