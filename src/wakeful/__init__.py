"""wakeful: an opencode-compatible, headless coding-agent server for long unattended runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wakeful.version import OPENCODE_VERSION, __version__

if TYPE_CHECKING:
    from wakeful.client import AsyncClient, Client


def __getattr__(name: str) -> Any:
    # The client pulls in httpx only when asked for, so that the server starts lean.
    if name in ("Client", "AsyncClient"):
        from wakeful import client

        return getattr(client, name)
    raise AttributeError(name)


__all__ = ["OPENCODE_VERSION", "AsyncClient", "Client", "__version__"]
