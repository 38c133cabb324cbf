"""A server process as an operator sees it: `/metrics` scraped over a real socket during a held call
and after runs, behind the same Basic auth as everything else, and its JSON log lines on stderr
(`--log-format json`): an access line per request and the run's lines, with the request's id."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.fakellm import FakeLLMThread
from tests.support.http import new_session, prompt_body, tool
from tests.support.procs import wait_until
from tests.support.server import WakefulProcess
from wakeful.version import OPENCODE_VERSION, __version__

PASSWORD = "metrics-secret"
AUTH = ("opencode", PASSWORD)
MODEL = {"provider": "mock", "model": "mock-model"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Iterator[WakefulProcess]:
    proc = WakefulProcess(
        tmp_path_factory.mktemp("data"),
        project,
        env={"WAKEFUL_SERVER_PASSWORD": PASSWORD},
        args=["--log-format", "json"],
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
def http(server: WakefulProcess) -> Iterator[httpx.Client]:
    with server.client(auth=AUTH, timeout=httpx.Timeout(30.0)) as client:
        yield client


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_during_a_held_call_and_after_the_runs(http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    before = scrape(http)
    assert value(before, "wakeful_held_calls") == 0
    assert value(before, "wakeful_build_info", version=__version__, opencode_version=OPENCODE_VERSION) == 1

    key = f"metrics-{uuid.uuid4().hex[:8]}"
    body = prompt_body(f"HOLD {key}\nREPLY held")
    with http.stream("POST", f"/session/{sid}/message", json=body) as response:
        assert response.status_code == 200
        llm.wait_for_hold(key, timeout=10)
        chunks = response.iter_raw()
        first = next(chunks)  # a keep-alive newline: the call is being held
        assert b"\n" in first
        during = scrape(http)
        llm.release(key)
        reply = json.loads(first + b"".join(chunks))
    assert reply["info"].get("error") is None

    assert value(during, "wakeful_held_calls") >= 1
    assert value(during, "wakeful_runs_running") == 1
    assert value(during, "wakeful_keepalive_lateness_seconds_count") >= 1

    tool_reply = http.post(
        f"/session/{sid}/message",
        json=prompt_body(f"{tool('read', filePath='opencode.json')}\nREPLY read it"),
    )
    assert tool_reply.status_code == 200 and tool_reply.json()["info"].get("error") is None

    prompts = {"method": "POST", "route": "/session/{sessionID}/message", "status": "200"}

    # A call is counted when its handler returns, a moment after its last byte has gone out.
    def settled() -> Samples | None:
        samples = scrape(http)
        done = value(samples, "wakeful_http_requests_total", **prompts) - value(
            before, "wakeful_http_requests_total", **prompts
        )
        return samples if value(samples, "wakeful_held_calls") == 0 and done == 2 else None

    after: Samples = wait_until(settled)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(after, "wakeful_runs_running") == 0
    assert grew("wakeful_runs_total", kind="prompt", outcome="success") == 2
    assert grew("wakeful_run_duration_seconds_count", kind="prompt", outcome="success") == 2
    # the held run made one model call, the tool run two (the tool call, then the answer)
    assert grew("wakeful_llm_request_duration_seconds_count", **MODEL) == 3
    assert grew("wakeful_llm_time_to_first_token_seconds_count", **MODEL) == 3
    assert grew("wakeful_llm_tokens_total", **MODEL, type="output") > 0
    assert grew("wakeful_tool_call_duration_seconds_count", tool="read", outcome="success") == 1


def test_metrics_and_readiness_need_the_password(server: WakefulProcess) -> None:
    with server.client() as anonymous:
        for path in ("/metrics", "/global/ready"):
            refused = anonymous.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["_tag"] == "UnauthorizedError"
    with server.client(auth=AUTH) as http:
        assert http.get("/global/ready").json() == {"ready": True}
        openmetrics = http.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.rstrip().endswith("# EOF")


def test_json_logs_carry_the_request_id_on_the_access_line_and_the_runs_lines(
    server: WakefulProcess, http: httpx.Client
) -> None:
    sid = new_session(http)
    rid = f"ci-{uuid.uuid4().hex[:12]}"
    response = http.post(
        f"/session/{sid}/message", json=prompt_body("REPLY logged"), headers={"X-Request-ID": rid}
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == rid
    message_id = response.headers["X-Wakeful-Message-ID"]

    def lines() -> list[dict[str, Any]]:
        out = []
        for line in list(server.output):
            if line.startswith("{"):
                out.append(json.loads(line))
        return [entry for entry in out if entry.get("request_id") == rid]

    def complete() -> list[dict[str, Any]] | None:
        found = lines()
        return found if any(e["logger"] == "wakeful.access" for e in found) else None

    mine = wait_until(complete, timeout=10)
    [access] = [e for e in mine if e["logger"] == "wakeful.access"]
    assert access["method"] == "POST"
    assert access["path"] == f"/session/{sid}/message"
    assert access["status"] == 200
    assert access["duration_ms"] >= 0
    assert access["message_id"] == message_id
    assert access["level"] == "INFO" and access["time"].endswith("+00:00")
    runs = [e["message"] for e in mine if e["logger"] == "wakeful.runs"]
    assert any(m.startswith(f"run {message_id} started") for m in runs), runs
    assert any(m.startswith(f"run {message_id} ended: success") for m in runs), runs
    # every line the server wrote is one JSON object (uvicorn's own included)
    assert all(line.startswith(("{", "wakeful listening on ")) for line in server.output if line.strip())
