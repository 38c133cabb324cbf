"""Health, /doc, config, agents, commands and providers, validated against the reference schemas."""

from __future__ import annotations

import httpx
import pytest

from tests.support.schemas import validate_response


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/global/health")
    assert response.status_code == 200
    body = response.json()
    assert body["healthy"] is True
    validate_response("get", "/global/health", 200, body)


# FastAPI builds the document on the first request, synchronously: about 0.3 s on the loop.
@pytest.mark.loop_may_stall("the first GET /doc builds the OpenAPI document on the loop")
async def test_doc_is_our_openapi_with_the_session_routes(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/doc")).json()
    assert doc["openapi"].startswith("3.")
    operations = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    for needed in ("session.create", "session.prompt", "session.reply", "session.wait", "event.subscribe"):
        assert needed in operations


async def test_agents_commands_providers(client: httpx.AsyncClient) -> None:
    agents = (await client.get("/agent")).json()
    assert {a["name"] for a in agents} >= {"build", "plan"}
    validate_response("get", "/agent", 200, agents)

    commands = (await client.get("/command")).json()
    assert {c["name"] for c in commands} >= {"init", "review"}
    validate_response("get", "/command", 200, commands)

    providers = (await client.get("/provider")).json()
    validate_response("get", "/provider", 200, providers)
    assert {p["id"] for p in providers["all"]} == {"mock", "anth"}
    assert providers["default"]["mock"] == "mock-model"
    assert "apiKey" not in providers["all"][0]["options"]  # the project gives one: it is hidden

    config_providers = (await client.get("/config/providers")).json()
    validate_response("get", "/config/providers", 200, config_providers)

    config = (await client.get("/config")).json()
    assert config["model"] == "mock/mock-model"
    validate_response("get", "/config", 200, config)


async def test_unknown_route_is_a_404_in_the_reference_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert response.json()["name"] == "NotFoundError"
