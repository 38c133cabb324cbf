"""401 and 503 need a server of their own: one with a password, which the test then shuts down."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import unique
from tests.support.fakellm import FakeLLMThread
from tests.support.server import WakefulProcess
from wakeful.client import Client, ServiceUnavailable, Unauthorized

PASSWORD = "s3cret"


def test_unauthorized_then_service_unavailable_while_draining(
    tmp_path: Path, project: Path, llm: FakeLLMThread
) -> None:
    proc = WakefulProcess(tmp_path / "data", project, env={"WAKEFUL_SERVER_PASSWORD": PASSWORD}).start()
    key = unique()
    try:
        with Client(proc.url, retries=0) as anonymous, pytest.raises(Unauthorized):
            anonymous.list_sessions()
        with Client(proc.url, password=PASSWORD, retries=0) as client:
            session = client.create_session()
            client.prompt_async(session.id, f"HOLD {key}")  # keeps the server draining
            llm.wait_for_hold(key)
            auth = httpx.BasicAuth("opencode", PASSWORD)
            with httpx.Client(base_url=proc.url, auth=auth, timeout=10) as raw, raw.stream("GET", "/event") as events:
                proc.signal(signal.SIGTERM)
                for _ in events.iter_lines():  # the drain ends every event stream: then it has begun
                    pass
            with pytest.raises(ServiceUnavailable) as unavailable:
                client.create_session()
            assert unavailable.value.status == 503 and unavailable.value.retry_after == 5
    finally:
        llm.release(key)
        proc.stop()
