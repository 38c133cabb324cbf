"""Health, configuration, agents, commands and providers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from wakeful import OPENCODE_VERSION, __version__
from wakeful.project.agents import load_agents
from wakeful.project.commands import load_commands
from wakeful.server.deps import Directory, State

router = APIRouter()


@router.get("/global/health", operation_id="global.health", tags=["global"])
async def health(state: State, response: Response) -> dict[str, Any]:
    """The version is the opencode API version wakeful speaks (clients compare it); wakeful's own
    version is in the `X-Wakeful-Version` header."""
    del state
    response.headers["X-Wakeful-Version"] = __version__
    return {"healthy": True, "version": OPENCODE_VERSION}


@router.get("/config", operation_id="config.get", tags=["config"])
async def get_config(state: State, directory: Directory) -> dict[str, Any]:
    return state.projects.load(directory).data


@router.get("/agent", operation_id="app.agents", tags=["app"])
async def list_agents(state: State, directory: Directory) -> list[dict[str, Any]]:
    return [a.wire() for a in load_agents(state.projects.load(directory)).values()]


@router.get("/command", operation_id="command.list", tags=["command"])
async def list_commands(state: State, directory: Directory) -> list[dict[str, Any]]:
    return [c.wire() for c in load_commands(state.projects.load(directory)).values()]


@router.get("/provider", operation_id="provider.list", tags=["provider"])
async def list_providers(state: State, directory: Directory) -> dict[str, Any]:
    catalog = state.catalog(directory)
    return {"all": catalog.providers_wire(), "default": catalog.defaults(), "connected": catalog.connected()}


@router.get("/config/providers", operation_id="config.providers", tags=["config"])
async def config_providers(state: State, directory: Directory) -> dict[str, Any]:
    catalog = state.catalog(directory)
    return {"providers": catalog.providers_wire(), "default": catalog.defaults()}
