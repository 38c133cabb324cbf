"""A held call through a real nginx (the Debian package): default `proxy_buffering on`,
`proxy_http_version 1.1`, and a `proxy_read_timeout` (1 s) much shorter than the call (4 s).

wakeful answers with `X-Accel-Buffering: no`, so nginx passes every keep-alive newline on as it
arrives: the client sees them spaced by the interval (0.2 s here), the upstream read timeout never
fires, and the body ends with the complete JSON. The control shows that the timeout is real: the
same nginx cuts a call whose keep-alive interval is longer than `proxy_read_timeout`.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.proxy.nginx import INSTALL_HINT, Nginx, nginx_binary
from tests.support.server import WakefulProcess

INTERVAL = 0.2  # the server's keep-alive interval (tests/support/server.py sets it for every test server)
READ_TIMEOUT = 1.0  # nginx proxy_read_timeout
RUN = 4.0  # how long the scripted LLM waits before answering


@pytest.fixture(scope="module", params=["default", "gzip"])
def nginx(request: pytest.FixtureRequest, server: WakefulProcess,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    if nginx_binary() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    proxy = Nginx(server.url, tmp_path_factory.mktemp(f"nginx-{request.param}"),
                  read_timeout=READ_TIMEOUT, gzip=request.param == "gzip")
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@dataclass
class Held:
    status: int
    headers: httpx.Headers
    started: float
    newlines: list[float] = field(default_factory=list)  # arrival time of each keep-alive newline
    body: bytes = b""
    ended: float = 0.0
    error: str | None = None

    def document(self) -> Any:
        return json.loads(self.body)


def held_call(client: httpx.Client, path: str, text: str, headers: dict[str, str] | None = None) -> Held:
    """POST a prompt and read the raw body as it arrives, decoding gzip ourselves so that we can time
    each newline at the moment its bytes reach the client."""
    started = time.monotonic()
    with client.stream("POST", path, json={"parts": [{"type": "text", "text": text}]},
                       headers=headers or {}) as response:
        held = Held(response.status_code, response.headers, started)
        gzip = response.headers.get("content-encoding") == "gzip"
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        try:
            for raw in response.iter_raw():
                now = time.monotonic()
                data = inflate.decompress(raw) if inflate is not None else raw
                if not held.body.strip():  # still in the keep-alive prefix
                    prefix = data[: len(data) - len(data.lstrip())]
                    held.newlines.extend([now] * prefix.count(b"\n"))
                held.body += data
        except httpx.HTTPError as exc:
            held.error = f"{type(exc).__name__}: {exc}"
        held.ended = time.monotonic()
    return held


def new_session(client: httpx.Client) -> str:
    response = client.post("/session", json={})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_held_call_through_nginx_outlives_proxy_read_timeout(nginx: Nginx) -> None:
    with httpx.Client(base_url=nginx.url, timeout=10.0) as client:
        session = new_session(client)
        held = held_call(client, f"/session/{session}/message", f"DELAY {RUN}\nREPLY through nginx")

    # It went through nginx, and lasted four times the proxy's read timeout.
    assert held.status == 200
    assert held.headers["server"].startswith("nginx"), held.headers
    assert held.headers["x-keepalive-interval"] == f"{INTERVAL:g}"
    if nginx.gzip:
        assert held.headers.get("content-encoding") == "gzip", "the gzip variant should compress"
    elapsed = held.ended - held.started
    assert elapsed >= RUN > 3 * READ_TIMEOUT
    assert held.error is None, f"{held.error}\nnginx error.log:\n{nginx.error_log()}"
    assert "upstream timed out" not in nginx.error_log()

    # The body is one complete JSON document: the assistant message with its reply.
    document = held.document()
    assert document["info"]["role"] == "assistant"
    assert "error" not in document["info"], document["info"]
    texts = [p["text"] for p in document["parts"] if p["type"] == "text"]
    assert texts == ["through nginx"]

    # The client saw the keep-alive newlines as they were sent, not all at the end.
    arrivals = [t - held.started for t in held.newlines]
    end = held.ended - held.started
    assert len(arrivals) >= 0.7 * RUN / INTERVAL, arrivals
    assert arrivals[0] < INTERVAL + 0.5, arrivals
    assert sum(1 for t in arrivals if t < end - READ_TIMEOUT) >= 0.7 * (RUN - READ_TIMEOUT) / INTERVAL, arrivals
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert INTERVAL * 0.5 <= statistics.median(gaps) <= INTERVAL * 1.75, gaps
    assert max(gaps) < READ_TIMEOUT, gaps


def test_control_a_silence_longer_than_proxy_read_timeout_is_cut(nginx: Nginx) -> None:
    """The same nginx cuts a call whose keep-alive interval (asked for per request) exceeds its
    proxy_read_timeout: the 1 s timeout above is real, and the newlines are what kept the call alive."""
    script = f"DELAY {READ_TIMEOUT * 2.5}\nREPLY too quiet"
    with httpx.Client(base_url=nginx.url, timeout=10.0) as client:
        session = new_session(client)
        held = held_call(client, f"/session/{session}/message", script,
                         headers={"X-Keepalive-Interval": str(READ_TIMEOUT * 3)})
    assert held.status == 200  # the headers went out at once...
    assert held.headers["x-keepalive-interval"] == f"{READ_TIMEOUT * 3:g}"
    assert held.newlines == []
    # ...then nginx gave up after proxy_read_timeout of silence and cut the body.
    assert held.ended - held.started < READ_TIMEOUT * 2.5
    assert held.error is not None or not held.body.strip(), held.body
    assert "upstream timed out" in nginx.error_log()
