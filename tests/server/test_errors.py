"""Refusals by the framework itself answer in wakeful's error bodies, never a bare status.

In process: these refusals happen before any route touches the store, so no lifespan is needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support.inproc import app_without_lifespan
from tests.support.schemas import validate
from wakeful.config import ServerConfig


@pytest.fixture
async def app(tmp_path: Path) -> FastAPI:
    return await app_without_lifespan(ServerConfig.build(env={}, data_dir=tmp_path))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # The app re-raises an unexpected exception after answering it (for the server's log).
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://wakeful") as http:
        yield http


async def test_a_method_the_path_does_not_have_is_405_with_a_tagged_body(client: httpx.AsyncClient) -> None:
    response = await client.put("/session")
    assert response.status_code == 405
    assert response.json() == {"_tag": "MethodNotAllowedError", "message": "Method Not Allowed"}
    assert "GET" in response.headers["allow"]


async def test_an_unknown_path_is_the_reference_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"name": "NotFoundError", "data": {"message": "Not found"}}
    validate("NotFoundError", response.json())


async def test_a_body_the_framework_cannot_parse_is_an_invalid_request(client: httpx.AsyncClient) -> None:
    # Not UTF-8: FastAPI gives up before any validation and raises its own 400.
    response = await client.post(
        "/session", content=b'{"title": "\xff"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "_tag": "InvalidRequestError",
        "message": "There was an error parsing the body",
    }
    validate("InvalidRequestError", response.json())


async def test_an_unexpected_exception_is_500_unknown_error(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def broken() -> None:
        raise RuntimeError("the disk caught fire")

    app.add_api_route("/broken", broken)
    response = await client.get("/broken")
    assert response.status_code == 500
    assert response.json() == {"_tag": "UnknownError", "message": "the disk caught fire"}
