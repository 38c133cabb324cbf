"""wakeful: an opencode-compatible, headless coding-agent server for long unattended runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
# The reference version whose API wakeful speaks; reported where opencode reports its version.
OPENCODE_VERSION = "1.18.33"

if TYPE_CHECKING:
    from wakeful.client import AsyncClient, Client


def __getattr__(name: str) -> Any:
    # The client pulls in httpx only when asked for, so that the server starts lean.
    if name in ("Client", "AsyncClient"):
        from wakeful import client

        return getattr(client, name)
    raise AttributeError(name)


__all__ = ["OPENCODE_VERSION", "AsyncClient", "Client", "__version__"]
