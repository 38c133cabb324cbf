"""docs/compatibility.md stays true: its route tables against the reference's OpenAPI document and
against what a running wakeful serves (its `GET /doc`, and the answers of routes it does not serve)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.schemas import document, validate
from tests.support.server import WakefulProcess

DOC = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
STATUSES = ("supported", "partly supported", "not supported", "out of scope")
SERVED = {"supported", "partly supported"}
ROUTE_ROW = re.compile(
    r"^\| `(GET|POST|PUT|PATCH|DELETE) (/\S*)` \| ([\w.]+) \| (" + "|".join(STATUSES) + r") \|(.*)\|$"
)
ADDITION_ROW = re.compile(r"^\| `([^`]+)` \| ([\w ]+) \|(.*)\|$")
# What suite.mjs calls (both SDK entry points): all must be served.
SCENARIO = {
    "config.get", "config.providers", "app.agents", "command.list", "event.subscribe",
    "session.create", "session.list", "session.get", "session.update", "session.status",
    "session.prompt", "session.messages", "session.message", "session.prompt_async",
    "session.command", "session.shell", "session.abort", "session.delete",
    "permission.list", "permission.reply", "permission.respond", "mcp.status", "session.children",
    "tool.ids", "tool.list",
}  # fmt: skip
Route = tuple[str, str]  # (METHOD, path)


def _table() -> tuple[dict[Route, tuple[str, str, str]], dict[str, list[str]]]:
    """Route rows: (method, path) -> (operationId, status, notes); additions: kind -> names."""
    routes: dict[Route, tuple[str, str, str]] = {}
    additions: dict[str, list[str]] = {}
    section = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if section == "Our additions" and (m := ADDITION_ROW.match(line)):
            additions.setdefault(m[2].strip(), []).append(m[1])
        elif m := ROUTE_ROW.match(line):
            key = (m[1], m[2])
            assert key not in routes, f"{m[1]} {m[2]} is listed twice"
            routes[key] = (m[3], m[4], m[5].strip())
    return routes, additions


def _reference(v2: bool = False) -> dict[Route, str]:
    """The reference's v1 operations, or with `v2` its `v2.*` ones."""
    out: dict[Route, str] = {}
    for path, ops in document()["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and "operationId" in op and op["operationId"].startswith("v2.") == v2:
                out[(method.upper(), path)] = op["operationId"]
    return out


def _v1_rows(routes: dict[Route, tuple[str, str, str]]) -> dict[Route, tuple[str, str, str]]:
    return {r: row for r, row in routes.items() if not row[0].startswith("v2.")}


@pytest.fixture(scope="module")
def served(http_module: httpx.Client) -> dict[Route, dict[str, Any]]:
    doc = http_module.get("/doc").json()
    return {
        (method.upper(), path): op
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if isinstance(op, dict) and "operationId" in op
    }


@pytest.fixture(scope="module")
def http_module(server: WakefulProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def test_every_v1_route_of_the_reference_is_listed_once_with_its_operation_id() -> None:
    routes, _ = _table()
    routes = _v1_rows(routes)
    reference = _reference()
    assert len(reference) == 127
    missing = sorted(set(reference) - set(routes))
    extra = sorted(set(routes) - set(reference))
    assert not missing, f"reference routes missing from docs/compatibility.md: {missing}"
    assert not extra, f"routes in docs/compatibility.md that the reference does not have: {extra}"
    wrong = {r: (routes[r][0], op) for r, op in reference.items() if routes[r][0] != op}
    assert not wrong, f"operationIds that differ from the reference's (doc, reference): {wrong}"
    unexplained = [
        r for r, (_, status, notes) in routes.items() if status == "partly supported" and not notes
    ]
    assert not unexplained, f"partly supported routes must say what differs: {unexplained}"


def test_the_v2_routes_listed_are_the_references_and_all_served(served: dict[Route, dict[str, Any]]) -> None:
    routes, _ = _table()
    v2 = {r: row for r, row in routes.items() if row[0].startswith("v2.")}
    assert v2, "the /api/* reads of the terminal UI are listed"
    reference = _reference(v2=True)
    for route, (operation, status, _) in v2.items():
        assert reference.get(route) == operation, route
        assert status in SERVED and route in served, route


def test_the_supported_clients_each_name_a_test_that_exists() -> None:
    text = DOC.read_text()
    table = text[text.index("## Supported clients") : text.index("## How it is proven")]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == [
        "opencode's terminal UI (`opencode attach URL`)",
        "`opencode run --attach URL`",
        "JavaScript SDK",
        "Python SDK",
    ]
    for row in rows:
        test = re.search(r"`(tests/conformance/test_\w+\.py)`", row)
        assert test and (DOC.parents[1] / test[1]).exists(), row


def test_served_routes_are_exactly_the_supported_ones_plus_our_additions(
    served: dict[Route, dict[str, Any]],
) -> None:
    routes, additions = _table()
    supported = {r for r, (_, status, _) in routes.items() if status in SERVED}
    ours = {tuple(name.split(" ", 1)) for name in additions["route"]}
    assert ours == {
        ("GET", "/session/{sessionID}/message/{messageID}/reply"),
        ("GET", "/session/{sessionID}/message/{messageID}/deliveries"),
        ("GET", "/session/{sessionID}/wait"),
        ("GET", "/global/ready"),
        ("GET", "/metrics"),
    }
    assert sorted(supported - set(served)) == [], "marked supported but not served"
    assert sorted(set(served) - supported - ours) == [], "served but marked not supported, or not listed"
    for route in supported:
        assert served[route]["operationId"] == routes[route][0], route
    assert SCENARIO <= {op for op, status, _ in routes.values() if status in SERVED}


def test_our_parameters_are_in_the_served_document(served: dict[Route, dict[str, Any]]) -> None:
    _, additions = _table()
    assert set(additions["query parameter"]) == {"on_disconnect", "deadline", "permission_timeout", "callback"}
    assert {"X-Keepalive-Interval", "Last-Event-ID"} <= set(additions["request header"])
    assert {"X-Keepalive-Interval", "X-Wakeful-Message-ID"} <= set(additions["response header"])

    def params(method: str, path: str) -> set[str]:
        return {p["name"].lower() for p in served[(method, path)].get("parameters", [])}

    for path in (
        "/session/{sessionID}/message",
        "/session/{sessionID}/command",
        "/session/{sessionID}/shell",
    ):
        assert {"on_disconnect", "deadline"} <= params("POST", path), path
    assert "deadline" in params("POST", "/session/{sessionID}/prompt_async")
    for path in (
        "/session/{sessionID}/message",
        "/session/{sessionID}/command",
        "/session/{sessionID}/prompt_async",
    ):
        assert "permission_timeout" in params("POST", path), path
    for path in (
        "/session/{sessionID}/message",
        "/session/{sessionID}/prompt_async",
        "/session/{sessionID}/command",
        "/session/{sessionID}/shell",
    ):
        assert "callback" in params("POST", path), path
    assert "last-event-id" in params("GET", "/event")
    held = served[("POST", "/session/{sessionID}/message")]["responses"]["200"]
    assert "X-Keepalive-Interval" in held.get("headers", {})


def _concrete(path: str) -> str:
    samples = {"sessionID": "ses_compat", "messageID": "msg_compat", "partID": "prt_compat"}
    return re.sub(r"\{(\w+)\}", lambda m: samples.get(m[1], "compat"), path)


def test_routes_not_served_answer_an_error_the_sdk_throws_on(
    http_module: httpx.Client, served: dict[Route, dict[str, Any]]
) -> None:
    routes, _ = _table()
    served_paths = {path for _, path in served}
    for (method, path), (_, status, _) in sorted(routes.items()):
        if status in SERVED:
            continue
        response = http_module.request(
            method, _concrete(path), json={} if method in ("POST", "PUT", "PATCH") else None
        )
        if path in served_paths:  # the path exists with another method
            assert response.status_code == 405, (method, path, response.status_code)
        else:
            assert response.status_code == 404, (method, path, response.status_code, response.text)
            validate("NotFoundError", response.json())
