"""The webfetch tool against a local HTTP server: HTML as markdown, text or itself; the size limit;
redirects (bounded, each asked for); errors; and a URL that a session rule denies, in a real run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.http import tool
from tests.support.inproc import answer, new_session, prompt_run, submit
from tests.tools.test_permission_asks import Gate
from wakeful.config import ServerConfig
from wakeful.errors import ToolError
from wakeful.run.runtime import Runtime
from wakeful.tools.base import ToolContext
from wakeful.tools.webfetch import WebClient, webfetch_tool

PAGE = """<!doctype html><html><head><title>Guide</title><style>body{color:red}</style>
<script>alert("no")</script></head><body>
<h1>Install</h1>
<p>Run <code>make</code>, then read <a href="/docs">the docs</a>.</p>
<ul><li>fast</li><li>small</li></ul>
<noscript>enable JavaScript</noscript>
</body></html>"""
BIG = "x" * 10_000


@pytest.fixture
async def site() -> AsyncIterator[str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def big(request: web.Request) -> web.Response:
        return web.Response(text=BIG, content_type="text/plain")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query.get("to", "/page"))

    async def circle(request: web.Request) -> web.Response:
        raise web.HTTPFound("/circle")

    async def teapot(request: web.Request) -> web.Response:
        return web.Response(status=418, text="short and stout")

    app = web.Application()
    for path, handler in [
        ("/page", page),
        ("/big", big),
        ("/moved", moved),
        ("/circle", circle),
        ("/teapot", teapot),
    ]:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def web_client() -> AsyncIterator[WebClient]:
    client = WebClient()
    yield client
    await client.aclose()


def context(tmp_path: Path, client: WebClient, gate: Gate | None = None, **config: Any) -> ToolContext:
    settings = ServerConfig(data_dir=tmp_path, project_dir=tmp_path, **config)
    return ToolContext("ses", "msg", "call", tmp_path, config=settings, gate=gate, web=client)


async def test_html_comes_back_as_markdown(site: str, tmp_path: Path, web_client: WebClient) -> None:
    gate = Gate()
    result = await webfetch_tool.call({"url": f"{site}/page"}, context(tmp_path, web_client, gate))
    assert result.output == (
        "Guide\n\n# Install\n\nRun `make`, then read [the docs](/docs).\n\n- fast\n- small"
    )
    assert gate.asked() == [("webfetch", [f"{site}/page"])]
    assert result.title == f"{site}/page (text/html; charset=utf-8)"
    assert result.metadata["status"] == 200 and result.metadata["truncated"] is False


async def test_text_and_html_formats(site: str, tmp_path: Path, web_client: WebClient) -> None:
    ctx = context(tmp_path, web_client)
    text = await webfetch_tool.call({"url": f"{site}/page", "format": "text"}, ctx)
    assert text.output == "Guide\n\nInstall\n\nRun make, then read the docs.\n\nfast\nsmall"
    html = await webfetch_tool.call({"url": f"{site}/page", "format": "html"}, ctx)
    assert html.output == PAGE


async def test_an_oversized_page_is_cut_at_the_limit(
    site: str, tmp_path: Path, web_client: WebClient
) -> None:
    result = await webfetch_tool.call(
        {"url": f"{site}/big"}, context(tmp_path, web_client, webfetch_max_bytes=4_000)
    )
    body, note = result.output.split("\n\n<webfetch_metadata>\n")
    assert body == "x" * 4_000
    assert "longer than 4000 bytes: only its start was read" in note
    assert result.metadata["bytes"] == 4_000 and result.metadata["truncated"] is True
    shown = await webfetch_tool.call(
        {"url": f"{site}/big"}, context(tmp_path, web_client, tool_output_max_bytes=1_000)
    )
    assert shown.output.startswith("x" * 1_000 + "\n\n<webfetch_metadata>\nthe content was cut at 1000 bytes")


async def test_redirects_are_followed_and_each_is_asked(
    site: str, tmp_path: Path, web_client: WebClient
) -> None:
    gate = Gate()
    result = await webfetch_tool.call({"url": f"{site}/moved?to=/page"}, context(tmp_path, web_client, gate))
    assert result.output.startswith("Guide") and result.metadata["url"] == f"{site}/page"
    assert gate.asked() == [("webfetch", [f"{site}/moved?to=/page"]), ("webfetch", [f"{site}/page"])]
    with pytest.raises(ToolError, match="Too many redirects: more than 3"):
        await webfetch_tool.call(
            {"url": f"{site}/circle"}, context(tmp_path, web_client, webfetch_max_redirects=3)
        )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/file", "Not an http:// or https:// URL"),
        ("/teapot", "answered HTTP 418"),
        ("http://127.0.0.1:1/nothing", "Could not fetch"),
    ],
)
async def test_errors_are_tool_errors(
    site: str, tmp_path: Path, web_client: WebClient, url: str, says: str
) -> None:
    with pytest.raises(ToolError, match=says):
        await webfetch_tool.call(
            {"url": site + url if url.startswith("/") else url}, context(tmp_path, web_client)
        )


async def test_a_context_without_a_client_makes_its_own(site: str, tmp_path: Path) -> None:
    ctx = ToolContext("ses", "msg", "call", tmp_path)
    assert (await webfetch_tool.call({"url": f"{site}/big", "format": "html"}, ctx)).output == BIG


async def test_a_url_a_session_rule_denies_is_refused(site: str, runtime: Runtime) -> None:
    rules = [{"permission": "webfetch", "pattern": f"{site}/page*", "action": "deny"}]
    session = await new_session(runtime, permission=rules)
    script = "\n".join([tool("webfetch", url=f"{site}/page"), tool("webfetch", url=f"{site}/moved?to=/page")])
    await answer(await submit(runtime, prompt_run(runtime, session, script)))
    stored = await runtime.messages.list_raw(session.id)
    parts = [p for m in stored for p in m["parts"] if p["type"] == "tool"]
    assert [p["state"]["status"] for p in parts] == ["error", "error"]
    for part in parts:  # the redirect to a denied URL is refused as the URL itself is
        assert part["state"]["error"].startswith("Permission denied"), part["state"]["error"]
        assert json.dumps(rules[0]) in part["state"]["error"]
