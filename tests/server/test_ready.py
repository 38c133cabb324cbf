"""`GET /global/ready`: 200 while the server takes work; 503 `ServiceUnavailableError` with
`Retry-After` while it drains or when its store does not answer a read in time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.inproc import InProcess
from tests.support.schemas import validate
from tests.support.warm import warm_process
from wakeful.config import ServerConfig
from wakeful.server.app import create_app
from wakeful.storage.base import RunRecord


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_process()


@pytest.fixture
def app_flags() -> dict[str, Any]:
    return {"ready_timeout": 0.05}


async def unavailable(wakeful: InProcess) -> str:
    response = await wakeful.client.get("/global/ready")
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    body = response.json()
    validate("ServiceUnavailableError", body)
    message: str = body["message"]
    return message


async def test_ready_while_taking_work_and_not_while_draining(wakeful: InProcess) -> None:
    ready = await wakeful.client.get("/global/ready")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True}
    wakeful.runtime.runs.stop_accepting()
    assert await unavailable(wakeful) == "The server is shutting down"
    health = await wakeful.client.get("/global/health")
    assert health.status_code == 200  # alive, just not ready


async def test_not_ready_when_the_store_fails_or_does_not_answer(
    wakeful: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(message_id: str) -> RunRecord | None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(wakeful.runtime.store, "get_run", broken)
    assert await unavailable(wakeful) == "The store does not answer: OSError: disk I/O error"

    never = asyncio.Event()

    async def stuck(message_id: str) -> RunRecord | None:
        await never.wait()
        return None

    monkeypatch.setattr(wakeful.runtime.store, "get_run", stuck)
    assert await unavailable(wakeful) == "The store did not answer within 0.05 s"


def test_readiness_is_documented_with_its_503(tmp_path: Path) -> None:
    doc = create_app(ServerConfig.build(env={}, data_dir=tmp_path)).openapi()
    ready = doc["paths"]["/global/ready"]["get"]
    assert ready["operationId"] == "global.ready"
    assert ready["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ServiceUnavailableError"
    }
    assert "/metrics" not in doc["paths"]  # Prometheus text, not an API operation
