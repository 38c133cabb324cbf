"""Health, /doc, config, agents, commands and providers, validated against the reference schemas."""

from __future__ import annotations

import httpx

from tests.support.schemas import validate_response


def test_health(http: httpx.Client) -> None:
    response = http.get("/global/health")
    assert response.status_code == 200
    body = response.json()
    assert body["healthy"] is True
    validate_response("get", "/global/health", 200, body)


def test_doc_is_our_openapi_with_the_session_routes(http: httpx.Client) -> None:
    doc = http.get("/doc").json()
    assert doc["openapi"].startswith("3.")
    operations = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    for needed in ("session.create", "session.prompt", "session.reply", "session.wait", "event.subscribe"):
        assert needed in operations


def test_agents_commands_providers(http: httpx.Client) -> None:
    agents = http.get("/agent").json()
    assert {a["name"] for a in agents} >= {"build", "plan"}
    validate_response("get", "/agent", 200, agents)

    commands = http.get("/command").json()
    assert {c["name"] for c in commands} >= {"init", "review"}
    validate_response("get", "/command", 200, commands)

    providers = http.get("/provider").json()
    validate_response("get", "/provider", 200, providers)
    assert {p["id"] for p in providers["all"]} == {"mock", "anth"}
    assert providers["default"]["mock"] == "mock-model"
    assert "apiKey" not in providers["all"][0]["options"]

    config_providers = http.get("/config/providers").json()
    validate_response("get", "/config/providers", 200, config_providers)

    config = http.get("/config").json()
    assert config["model"] == "mock/mock-model"
    validate_response("get", "/config", 200, config)


def test_unknown_route_is_a_404_in_the_reference_shape(http: httpx.Client) -> None:
    response = http.get("/no/such/route")
    assert response.status_code == 404
    assert response.json()["name"] == "NotFoundError"
