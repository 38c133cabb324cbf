"""The names the client packages export: a change to either list is a change of the public API."""

from __future__ import annotations

import inspect

import wakeful
import wakeful.client


def test_the_client_package_exports_its_api() -> None:
    assert wakeful.client.__all__ == [
        "AsyncClient",
        "BadRequest",
        "Client",
        "ClientError",
        "Conflict",
        "ConnectionLost",
        "DeadlineExceeded",
        "Event",
        "Gap",
        "NotFound",
        "Refused",
        "Reply",
        "RunFailed",
        "ServerError",
        "ServiceUnavailable",
        "SessionBusy",
        "Unauthorized",
    ]
    assert wakeful.client.__all__ == sorted(wakeful.client.__all__)
    # Every public name the package binds, but its modules and the `__future__` import, is exported.
    bound = {
        name
        for name, value in vars(wakeful.client).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert bound == set(wakeful.client.__all__)


def test_the_top_package_exports_the_clients_and_its_versions() -> None:
    # Ruff's order (RUF022): constants, then classes, then the rest.
    assert wakeful.__all__ == ["OPENCODE_VERSION", "AsyncClient", "Client", "__version__"]
    assert wakeful.Client is wakeful.client.Client
    assert wakeful.AsyncClient is wakeful.client.AsyncClient
