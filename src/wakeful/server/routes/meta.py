"""Health, configuration, agents, commands and providers."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wakeful.project.agents import load_agents
from wakeful.project.catalog import Catalog
from wakeful.project.commands import load_commands
from wakeful.server.deps import Directory, RuntimeDep
from wakeful.server.routing import WireRoute
from wakeful.version import OPENCODE_VERSION, __version__
from wakeful.wire.meta import Agent, Command, Config, ConfigProviders, Health, Provider, ProviderList

router = APIRouter(route_class=WireRoute)


@router.get("/global/health", operation_id="global.health", tags=["global"])
async def health(response: Response) -> Health:
    """The version is the opencode API version wakeful speaks (clients compare it); wakeful's own
    version is in the `X-Wakeful-Version` header."""
    response.headers["X-Wakeful-Version"] = __version__
    return Health(healthy=True, version=OPENCODE_VERSION)


@router.get("/config", operation_id="config.get", tags=["config"])
async def get_config(runtime: RuntimeDep, directory: Directory) -> Config:
    return Config(runtime.projects.load(directory).data)


@router.get("/agent", operation_id="app.agents", tags=["app"])
async def list_agents(runtime: RuntimeDep, directory: Directory) -> list[Agent]:
    agents = load_agents(runtime.projects.load(directory)).values()
    return [a.wire() for a in agents]


@router.get("/command", operation_id="command.list", tags=["command"])
async def list_commands(runtime: RuntimeDep, directory: Directory) -> list[Command]:
    commands = load_commands(runtime.projects.load(directory)).values()
    return [Command.model_validate(c.wire()) for c in commands]


def _providers(catalog: Catalog) -> list[Provider]:
    return [Provider.model_validate(p) for p in catalog.providers_wire()]


@router.get("/provider", operation_id="provider.list", tags=["provider"])
async def list_providers(runtime: RuntimeDep, directory: Directory) -> ProviderList:
    catalog = runtime.catalog(directory)
    return ProviderList(all=_providers(catalog), default=catalog.defaults(), connected=catalog.connected())


@router.get("/config/providers", operation_id="config.providers", tags=["config"])
async def config_providers(runtime: RuntimeDep, directory: Directory) -> ConfigProviders:
    catalog = runtime.catalog(directory)
    return ConfigProviders(providers=_providers(catalog), default=catalog.defaults())
