"""No request can freeze, crash or corrupt the server (issue 12): each case found by fuzzing and by
hand, over a real socket, against a server process.

Two servers per module: `edge` with one-second request deadlines (the slow-client cases), `roomy`
with the default limits and deadlines plus `--allowed-host` (the 100 MB bodies and the allow-list).
The file-part and thread-pool cases of the issue live with the tools' tests.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import requests

from tests.support.server import SCRIPTED, WakefulProcess, write_project_config

Json = dict[str, Any]
MB = 1 << 20
# Far above any deadline of the `edge` server: a guard against a hang, never a bound a pass comes near.
PATIENCE = 20.0


@pytest.fixture(scope="module")
def scripted_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("project")
    write_project_config(directory, SCRIPTED)
    return directory


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, scripted_project: Path) -> Iterator[WakefulProcess]:
    env = {"WAKEFUL_HEADER_TIMEOUT": "1", "WAKEFUL_BODY_TIMEOUT": "1"}
    proc = WakefulProcess(tmp_path_factory.mktemp("data"), scripted_project, env=dict(env)).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory, scripted_project: Path) -> Iterator[WakefulProcess]:
    args = ["--allowed-host", "wakeful.example", "--allowed-host", "ci.example"]
    proc = WakefulProcess(tmp_path_factory.mktemp("data"), scripted_project, args=args).start()
    yield proc
    proc.stop()


@pytest.fixture
def http(edge: WakefulProcess) -> Iterator[httpx.Client]:
    with edge.client() as client:
        yield client


def new_session(http: httpx.Client, **body: Any) -> str:
    sid: str = ok(http.post("/session", json=body))["id"]
    return sid


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def refused(response: httpx.Response | requests.Response, field: str | None, status: int = 400) -> Json:
    """The answer is `status` with the InvalidRequestError body, naming `field`."""
    assert response.status_code == status, response.text[:500]
    body: Json = response.json()
    assert body["_tag"] == "InvalidRequestError" and body["message"], body
    assert body.get("field") == field, body
    return body


def text_prompt(text: str, **extra: Any) -> Json:
    return {"parts": [{"type": "text", "text": text}], **extra}


def stored_messages(http: httpx.Client, sid: str) -> list[Json]:
    listed: list[Json] = ok(http.get(f"/session/{sid}/message"))
    return listed


def address(server: WakefulProcess) -> tuple[str, int]:
    url = urlparse(server.url)
    return url.hostname or "127.0.0.1", url.port or 80


def rss_bytes(server: WakefulProcess) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# --- ids and the same models for input and storage ------------------------------------------------


def test_a_part_id_of_another_session_is_refused_and_never_overwritten(http: httpx.Client) -> None:
    owner, intruder = new_session(http), new_session(http)
    mine = {"id": "prt_issue12shared0001", "type": "text", "text": "REPLY mine"}
    ok(http.post(f"/session/{owner}/message", json={"parts": [mine]}))
    before = stored_messages(http, owner)

    theirs = {**mine, "text": "REPLY overwritten"}
    conflict = http.post(f"/session/{intruder}/message", json={"parts": [theirs]})
    assert conflict.status_code == 409, conflict.text
    assert conflict.json() == {
        "_tag": "ConflictError",
        "message": conflict.json()["message"],
        "resource": "prt_issue12shared0001",
    }
    async_conflict = http.post(f"/session/{intruder}/prompt_async", json={"parts": [theirs]})
    assert async_conflict.status_code == 409
    assert stored_messages(http, owner) == before
    assert stored_messages(http, intruder) == []

    twice = http.post(f"/session/{intruder}/message", json={"parts": [theirs, {**theirs, "text": "x"}]})
    refused(twice, "parts")


def test_a_message_id_of_another_session_is_refused(http: httpx.Client) -> None:
    owner, intruder = new_session(http), new_session(http)
    body = text_prompt("REPLY first", messageID="msg_issue12chosen0001")
    ok(http.post(f"/session/{owner}/message", json=body))
    conflict = http.post(f"/session/{intruder}/message", json=body)
    assert conflict.status_code == 409 and conflict.json()["_tag"] == "ConflictError"
    assert stored_messages(http, intruder) == []
    assert len(stored_messages(http, owner)) == 2


def test_a_part_storage_could_not_read_back_is_refused(http: httpx.Client) -> None:
    sid = new_session(http)
    empty_time = {"parts": [{"type": "text", "text": "REPLY x", "time": {}}]}
    refused(http.post(f"/session/{sid}/message", json=empty_time), "parts.0.text.time.start")
    refused(http.post(f"/session/{sid}/prompt_async", json=empty_time), "parts.0.text.time.start")
    assert stored_messages(http, sid) == []

    timed = {"parts": [{"type": "text", "text": "REPLY timed", "time": {"start": 5, "end": 6}}]}
    ok(http.post(f"/session/{sid}/message", json=timed))
    user = stored_messages(http, sid)[0]
    assert user["parts"][0]["time"] == {"start": 5, "end": 6}


def test_ids_outside_the_grammar_are_refused_and_never_reach_a_header(http: httpx.Client) -> None:
    sid = new_session(http)
    for message_id in ("msg_a\r\nX-Injected: 1", "msg_a\n", "msg", "msg_" + "a" * 65, "msg_a b"):
        refused(
            http.post(f"/session/{sid}/message", json=text_prompt("REPLY x", messageID=message_id)),
            "messageID",
        )
        refused(
            http.post(
                f"/session/{sid}/shell", json={"agent": "build", "command": "true", "messageID": message_id}
            ),
            "messageID",
        )
    part = {"id": "prt_x\r\ny", "type": "text", "text": "REPLY x"}
    refused(http.post(f"/session/{sid}/message", json={"parts": [part]}), "parts.0.text.id")
    assert stored_messages(http, sid) == []
    # The path too: the id goes into X-Wakeful-Message-ID on the way out.
    for path in (
        f"/session/{sid}/message/msg_a%0D%0AX-Injected:%201/reply",
        f"/session/{sid}/message/msg_a%0A",
    ):
        refused(http.get(path), "messageID")
    refused(http.get(f"/session/{sid}%0D%0A"), "sessionID")

    chosen = "msg_Issue-12_chosen"
    reply = http.post(f"/session/{sid}/message", json=text_prompt("REPLY chosen", messageID=chosen))
    assert reply.status_code == 200 and reply.headers["x-wakeful-message-id"] == chosen
    assert ok(http.get(f"/session/{sid}/message/{chosen}/reply"))["info"]["parentID"] == chosen


# --- values that used to give a 500 ---------------------------------------------------------------


def test_query_values_out_of_range_are_refused_not_clamped(http: httpx.Client) -> None:
    sid = new_session(http)
    for limit in ("nan", "inf", "-inf", "1e300", "-1", "1.5", "9007199254740992"):
        refused(http.get("/session", params={"limit": limit}), "limit")
        refused(http.get(f"/session/{sid}/message", params={"limit": limit}), "limit")
    for start in ("nan", "inf"):
        refused(http.get("/session", params={"start": start}), "start")
    for deadline in ("nan", "inf", "0", "-1"):
        answer = http.post(
            f"/session/{sid}/message", params={"deadline": deadline}, json=text_prompt("REPLY x")
        )
        refused(answer, "deadline")
    refused(http.get(f"/session/{sid}/message", params={"before": "msg_a\r\n"}), "before")
    assert stored_messages(http, sid) == []
    assert isinstance(ok(http.get("/session", params={"limit": "2", "start": "0"})), list)
    assert isinstance(ok(http.get("/session", params={"limit": "9007199254740991"})), list)


def test_a_long_search_is_refused(http: httpx.Client) -> None:
    refused(http.get("/session", params={"search": "a" * 60_000}), "search")
    assert ok(http.get("/session", params={"search": "a" * 1024})) == []


def test_a_directory_the_server_cannot_stat_is_refused(http: httpx.Client) -> None:
    for directory in ("/" + "a" * 300, "/tmp/" + "b/" * 3000, "/tmp/x\x00y"):
        refused(http.get("/session", params={"directory": directory}), "directory")
        encoded = urllib.parse.quote(directory)  # as the SDK sends it
        refused(http.post("/session", headers={"x-opencode-directory": encoded}, json={}), "directory")


def raw_post(http: httpx.Client, path: str, body: bytes, method: str = "POST") -> httpx.Response:
    return http.request(method, path, content=body, headers={"content-type": "application/json"})


def test_lone_surrogates_and_non_finite_numbers_are_refused(http: httpx.Client) -> None:
    sid = new_session(http)
    for text in (rb'"\ud800"', rb'"a\udfffb"', rb'"\ud83d x"', b'"\xed\xa0\x80"'):
        prompt = b'{"parts":[{"type":"text","text":' + text + b"}]}"
        assert raw_post(http, f"/session/{sid}/message", prompt).status_code == 400, text
        assert raw_post(http, "/session", b'{"title":' + text + b"}").status_code == 400
        patched = raw_post(http, f"/session/{sid}", b'{"metadata":{"k":' + text + b"}}", "PATCH")
        assert patched.status_code == 400
    for number in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"):
        archived = raw_post(http, f"/session/{sid}", b'{"time":{"archived":' + number + b"}}", "PATCH")
        assert archived.status_code == 400 and archived.json()["_tag"] == "InvalidRequestError", number
        metadata = raw_post(http, f"/session/{sid}", b'{"metadata":{"n":' + number + b"}}", "PATCH")
        assert metadata.status_code == 400, number
    assert stored_messages(http, sid) == []
    session = ok(http.get(f"/session/{sid}"))
    assert "metadata" not in session and "archived" not in session["time"]

    # A surrogate pair is one character: stored, answered and listed as such.
    pair = raw_post(
        http, f"/session/{sid}/message", rb'{"parts":[{"type":"text","text":"REPLY \ud83d\ude00"}]}'
    )
    assert pair.status_code == 200, pair.text
    assert stored_messages(http, sid)[0]["parts"][0]["text"] == "REPLY \U0001f600"


def test_nesting_deeper_than_an_answer_can_carry_is_refused(http: httpx.Client) -> None:
    sid = new_session(http)

    def with_metadata(depth: int) -> bytes:
        value = b"[" * depth + b"]" * depth
        return b'{"parts":[{"type":"text","text":"REPLY deep","metadata":{"v":' + value + b"}}]}"

    refused(raw_post(http, f"/session/{sid}/message", with_metadata(600)), None)
    refused(
        raw_post(http, f"/session/{sid}", b'{"metadata":{"v":' + b"[" * 600 + b"]" * 600 + b"}}", "PATCH"),
        None,
    )
    assert stored_messages(http, sid) == []
    assert raw_post(http, f"/session/{sid}/message", with_metadata(190)).status_code == 200
    assert len(stored_messages(http, sid)) == 2


# --- limits ---------------------------------------------------------------------------------------


def big_prompt(size: int) -> bytes:
    return b'{"parts":[{"type":"text","text":"' + b"a" * size + b'"}]}'


def test_a_100_mb_body_gets_a_413_that_every_client_reads(roomy: WakefulProcess, tmp_path: Path) -> None:
    with roomy.client() as client:
        sid = new_session(client)
        path = f"/session/{sid}/message"
        payload = big_prompt(100 * MB)
        rss_before = rss_bytes(roomy)

        refused(raw_post(client, path, payload), "body", status=413)
        refused(
            requests.post(
                roomy.url + path, data=payload, headers={"content-type": "application/json"}, timeout=60
            ),
            "body",
            status=413,
        )

        def chunks() -> Iterator[bytes]:
            for start in range(0, 20 * MB, MB):
                yield payload[start : start + MB]

        chunked = client.post(path, content=chunks(), headers={"content-type": "application/json"})
        refused(chunked, "body", status=413)

        upload = tmp_path / "prompt.json"
        upload.write_bytes(payload)
        curl = shutil.which("curl")
        assert curl, "curl is installed by make test (scripts/ensure-system.sh)"
        # curl sends `Expect: 100-continue` for a body this large, and then its body only if asked:
        # both ways end in the 413.
        for expect in ([], ["-H", "Expect:"]):
            result = subprocess.run(
                [
                    curl,
                    "-sS",
                    "-o",
                    "-",
                    "-w",
                    "\n%{http_code}",
                    "-H",
                    "content-type: application/json",
                    "--data-binary",
                    f"@{upload}",
                    *expect,
                    roomy.url + path,
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            body, status = result.stdout.rsplit(b"\n", 1)
            assert status == b"413" and json.loads(body)["_tag"] == "InvalidRequestError", result.stdout[:300]

        assert stored_messages(client, sid) == []
        assert rss_bytes(roomy) - rss_before < 64 * MB  # nothing of the 100 MB bodies was kept
        assert ok(client.get("/global/health"))["healthy"] is True


def test_text_and_part_counts_over_their_limits_are_refused(http: httpx.Client) -> None:
    sid = new_session(http)
    refused(http.post(f"/session/{sid}/message", json=text_prompt("a" * 1_000_001)), "parts.0.text")
    refused(
        http.post(f"/session/{sid}/message", json=text_prompt("REPLY x", system="s" * 1_000_001)), "system"
    )
    many = {"parts": [{"type": "text", "text": "x"}] * 257}
    refused(http.post(f"/session/{sid}/message", json=many), "parts")
    refused(
        http.post(f"/session/{sid}/shell", json={"agent": "build", "command": "#" * 1_000_001}), "command"
    )
    assert stored_messages(http, sid) == []
    ok(http.post(f"/session/{sid}/message", json={"parts": [{"type": "text", "text": "REPLY x"}] * 256}))


# --- sessions -------------------------------------------------------------------------------------


def test_deleting_a_session_removes_its_grandchildren(http: httpx.Client) -> None:
    root = new_session(http, title="root")
    child = new_session(http, parentID=root)
    grandchild = new_session(http, parentID=child)
    other = new_session(http, title="other")
    ok(http.post(f"/session/{grandchild}/message", json=text_prompt("REPLY deep")))
    assert ok(http.delete(f"/session/{root}")) is True
    for gone in (root, child, grandchild):
        assert http.get(f"/session/{gone}").status_code == 404
        assert http.get(f"/session/{gone}/message").status_code == 404
    listed = {s["id"] for s in ok(http.get("/session", params={"limit": 10_000}))}
    assert other in listed and not listed & {root, child, grandchild}


# --- the Host allow-list --------------------------------------------------------------------------


def test_a_foreign_host_is_refused_against_dns_rebinding(edge: WakefulProcess, http: httpx.Client) -> None:
    port = address(edge)[1]
    for host in (
        "attacker.example",
        f"attacker.example:{port}",
        "localhost.attacker.example",
        "127.0.0.1.nip.io",
    ):
        refused(http.get("/session", headers={"Host": host}), "Host")
    for host in (
        f"localhost:{port}",
        "LOCALHOST",
        "localhost.",
        "127.0.0.1",
        f"127.0.0.1:{port}",
        "127.9.9.9:1",
        "[::1]:4096",
    ):
        assert http.get("/global/health", headers={"Host": host}).status_code == 200, host
    # HTTP/1.0 without Host comes from no browser.
    with socket.create_connection(address(edge), timeout=PATIENCE) as sock:
        sock.sendall(b"GET /global/health HTTP/1.0\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200")


def test_allowed_host_adds_names(roomy: WakefulProcess) -> None:
    with roomy.client() as client:
        for host in ("wakeful.example", "WAKEFUL.example.:8080", "ci.example"):
            assert client.get("/global/health", headers={"Host": host}).status_code == 200, host
        refused(client.get("/global/health", headers={"Host": "other.example"}), "Host")


# --- slow and idle clients ------------------------------------------------------------------------


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def trickle(sock: socket.socket, data: bytes, pace: float) -> tuple[int, bytes]:
    """Send `data` a byte every `pace` seconds until the server answers or closes; the bytes sent by
    then and what came back."""
    sock.settimeout(pace)
    for sent, byte in enumerate(data):
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return sent, b""
        try:
            answer = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return sent + 1, b""
        sock.settimeout(PATIENCE)
        return sent + 1, answer + read_all(sock)
    return len(data), b""


def test_a_client_sending_its_head_a_byte_at_a_time_is_cut(edge: WakefulProcess) -> None:
    head = b"GET /global/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 200 + b"\r\n\r\n"
    with socket.create_connection(address(edge), timeout=PATIENCE) as sock:
        started = time.monotonic()
        sent, answer = trickle(sock, head, pace=0.2)
        elapsed = time.monotonic() - started
    assert sent < len(head), "the server waited for the whole head"
    assert elapsed < PATIENCE
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    refusal = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert refusal["_tag"] == "InvalidRequestError"


def test_a_client_trickling_its_body_and_an_idle_connection_are_cut(edge: WakefulProcess) -> None:
    head = b"POST /session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    with socket.create_connection(address(edge), timeout=PATIENCE) as sock:
        sock.sendall(head)
        sent, _ = trickle(sock, b"{" + b" " * 398 + b"}", pace=0.2)
    assert sent < 400, "the server waited for the whole body"
    with socket.create_connection(address(edge), timeout=PATIENCE) as idle:
        assert idle.recv(1) == b""  # closed by the server, no request ever began


def test_a_held_call_with_a_slow_keep_alive_is_never_cut(edge: WakefulProcess, http: httpx.Client) -> None:
    sid = new_session(http)
    # The run and the keep-alive interval are longer than both request deadlines (1 s).
    reply = http.post(
        f"/session/{sid}/message",
        json=text_prompt("DELAY 2.5\nREPLY held"),
        headers={"X-Keepalive-Interval": "1.5"},
        timeout=PATIENCE,
    )
    assert reply.status_code == 200 and reply.headers["x-keepalive-interval"] == "1.5"
    assert reply.content.startswith(b"\n")  # keep-alive bytes went out while the run was held
    assert [p["text"] for p in reply.json()["parts"] if p["type"] == "text"] == ["held"]
    # The connection outlived the deadlines too: the next request goes over it.
    assert ok(http.get("/global/health"))["healthy"] is True


def test_a_head_over_the_limit_and_a_malformed_request_get_json_refusals(edge: WakefulProcess) -> None:
    with socket.create_connection(address(edge), timeout=PATIENCE) as sock:
        sock.sendall(
            b"GET /global/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * (70 << 10) + b"\r\n\r\n"
        )
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["_tag"] == "InvalidRequestError"
    with socket.create_connection(address(edge), timeout=PATIENCE) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["_tag"] == "InvalidRequestError"
