"""The webfetch tool: one web page, as markdown, plain text or HTML.

Each call asks `webfetch` with the URL as the pattern, and so does every redirect it follows (at
most `webfetch_max_redirects`), so a rule that denies a URL cannot be walked around through a
redirect. Loopback and private addresses are fetched like any other: a rule denies them if they must
not be (the agent's bash reaches them anyway). The whole fetch, redirects included, must end within
the call's timeout (`webfetch_timeout` by default, at most `webfetch_max_timeout`); the body is read
as a stream and cut at `webfetch_max_bytes`, and the text the model sees at `tool_output_max_bytes`.

HTML becomes markdown with markdownify (MIT, on BeautifulSoup): it keeps headings, links, lists,
tables and code blocks, and being pure Python it needs nothing beyond the wheel. html2text would do
as well but is GPL-3.0. Conversion runs in the tool pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import Field

from wakeful.errors import ToolError
from wakeful.providers.tls import tls_context
from wakeful.telemetry import tracing
from wakeful.tools.base import ToolContext, ToolResult
from wakeful.tools.typed import NonBlank, ToolArgs, tool
from wakeful.version import __version__

if TYPE_CHECKING:
    import httpx
    from bs4 import BeautifulSoup

Format = Literal["markdown", "text", "html"]
USER_AGENT = f"Mozilla/5.0 (compatible; wakeful/{__version__})"
# What each format prefers: the same content in that form first, then anything.
_ACCEPT: dict[str, str] = {
    "markdown": "text/markdown, text/plain;q=0.9, text/html;q=0.8, */*;q=0.1",
    "text": "text/plain, text/markdown;q=0.9, text/html;q=0.8, */*;q=0.1",
    "html": "text/html, application/xhtml+xml;q=0.9, text/plain;q=0.8, */*;q=0.1",
}
# Elements whose content is never text a reader sees.
_HIDDEN = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas")
# Elements that end a line of plain text.
_BLOCKS = (
    "address article aside blockquote br dd div dl dt fieldset figcaption figure footer form h1 h2 h3 "
    "h4 h5 h6 header hr li main nav ol p pre section table td th title tr ul"
).split()


def _client() -> httpx.AsyncClient:
    import httpx  # loaded after start-up (wakeful.server.serve), not before the first answer

    # Redirects are followed by the tool, one permission check each; time is bounded by the call's
    # own timeout; proxies and certificates are not read from this process's environment (nothing
    # in wakeful reads it behind the configuration's back). The TLS context is the providers' one.
    return httpx.AsyncClient(follow_redirects=False, timeout=None, trust_env=False, verify=tls_context())


class WebClient:
    """webfetch's HTTP client, shared by the calls of a runtime: made at the first call, in a
    thread (the shared TLS context may not be loaded yet, which takes a tenth of a second, too long
    for the event loop), and closed with the runtime."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> httpx.AsyncClient:
        async with self._lock:
            if self._client is None:
                self._client = await asyncio.to_thread(_client)
            return self._client

    async def aclose(self) -> None:
        async with self._lock:
            if self._client is not None:
                await self._client.aclose()
                self._client = None


@dataclass
class Page:
    url: str
    status: int
    content_type: str
    body: bytes
    encoding: str
    cut: bool  # the body was longer than the limit


def _http_url(raw: str) -> str:
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ToolError(f"Not an http:// or https:// URL: {raw}")
    return url


async def _ask(ctx: ToolContext, url: str, args: WebFetchArgs) -> None:
    await ctx.ask("webfetch", [url], metadata={"url": url, "format": args.format, "timeout": args.timeout})


async def _read(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        room = limit - len(body)
        if len(chunk) > room:
            body += chunk[:room]
            return bytes(body), True
        body += chunk
    return bytes(body), False


async def _fetch(client: httpx.AsyncClient, url: str, args: WebFetchArgs, ctx: ToolContext) -> Page:
    config = ctx.config
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": _ACCEPT[args.format],
        "Accept-Language": "en;q=0.9, *;q=0.5",
    }
    tracing.inject(headers)  # the page's server (or a proxy) may continue the run's trace
    for _ in range(config.webfetch_max_redirects + 1):
        async with client.stream("GET", url, headers=headers) as response:
            location = response.headers.get("location")
            if response.is_redirect and location:
                url = _http_url(urljoin(str(response.url), location))
                await _ask(ctx, url, args)
                continue
            if response.status_code >= 400:
                raise ToolError(f"{url} answered HTTP {response.status_code} {response.reason_phrase}")
            body, cut = await _read(response, config.webfetch_max_bytes)
            return Page(
                url=url,
                status=response.status_code,
                content_type=response.headers.get("content-type", ""),
                body=body,
                encoding=response.charset_encoding or "utf-8",
                cut=cut,
            )
    raise ToolError(f"Too many redirects: more than {config.webfetch_max_redirects}, the last to {url}")


def _soup(html: str) -> BeautifulSoup:
    # Imported here, in the tool pool's thread, on the first page: a sixth of a second not spent
    # at start-up.
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for element in soup.find_all(_HIDDEN):
        element.decompose()
    return soup


def _collapse(lines: Iterable[str]) -> str:
    """The lines with at most one blank line between two others (removed elements leave runs)."""
    out: list[str] = []
    for line in lines:
        if line.strip():
            out.append(line)
        elif out and out[-1]:
            out.append("")
    return "\n".join(out).strip("\n")


def render(page: Page, fmt: Format, stop: threading.Event) -> str:
    """The page's body as `fmt`: HTML is converted, anything else is given as it came."""
    del stop  # one conversion of a bounded body: it ends on its own
    mime = page.content_type.split(";")[0].strip().lower()
    if mime.startswith(("image/", "audio/", "video/")) and mime != "image/svg+xml":
        return f"[{page.url} is {mime} ({len(page.body)} bytes): webfetch gives the model text only]"
    if b"\0" in page.body[:4096]:
        return f"[{page.url} is binary ({mime or 'no content type'}, {len(page.body)} bytes)]"
    try:
        text = page.body.decode(page.encoding, errors="replace")
    except LookupError:  # a charset Python does not know
        text = page.body.decode("utf-8", errors="replace")
    if fmt == "html" or mime not in ("text/html", "application/xhtml+xml"):
        return text
    soup = _soup(text)
    if fmt == "text":
        for block in soup.find_all(_BLOCKS):
            block.append("\n")
        return _collapse(line.strip() for line in soup.get_text().splitlines())
    from markdownify import MarkdownConverter  # after bs4, which it is built on

    markdown = MarkdownConverter(heading_style="atx", bullets="-").convert_soup(soup)
    return _collapse(line.rstrip() for line in markdown.splitlines())


def _limit(text: str, max_bytes: int) -> tuple[str, bool]:
    data = text.encode()
    if len(data) <= max_bytes:
        return text, False
    return data[:max_bytes].decode(errors="ignore"), True


class WebFetchArgs(ToolArgs):
    url: NonBlank = Field(description="The http:// or https:// URL to fetch")
    format: Format = Field(
        "markdown", description="How to give the content: markdown (the default), text or html"
    )
    timeout: float | None = Field(None, gt=0, description="Seconds to wait at most (default 30, at most 120)")


@tool("webfetch", read_only=True)
async def webfetch_tool(args: WebFetchArgs, ctx: ToolContext) -> ToolResult:
    """Fetches a web page and returns its content: HTML as markdown by default, or as plain text
    ('format': "text"), or the HTML itself ("html"). Other text (plain, JSON, markdown) is returned
    as it is.

    - The URL must be complete, with http:// or https://. Redirects are followed.
    - Long pages are cut; the result says so. Images and other binary content are not returned.
    - Use it to read documentation, an issue or an API answer the task needs; it does not run
    JavaScript, so pages that build their content in the browser come back nearly empty.
    """
    import httpx

    url = _http_url(args.url)
    await _ask(ctx, url, args)
    config = ctx.config
    seconds = min(args.timeout or config.webfetch_timeout, config.webfetch_max_timeout)
    try:
        async with asyncio.timeout(seconds):
            if ctx.web is not None:
                page = await _fetch(await ctx.web.get(), url, args, ctx)
            else:
                async with await asyncio.to_thread(_client) as client:
                    page = await _fetch(client, url, args, ctx)
    except TimeoutError:
        raise ToolError(f"Fetching {url} took longer than {seconds:g} s; it was stopped") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"Could not fetch {url}: {type(exc).__name__}: {exc}") from None
    content = await ctx.pool.run(lambda stop: render(page, args.format, stop))
    output, cut = _limit(content, config.tool_output_max_bytes)
    notes = []
    if page.cut:
        notes.append(f"the page is longer than {config.webfetch_max_bytes} bytes: only its start was read")
    if cut:
        notes.append(f"the content was cut at {config.tool_output_max_bytes} bytes")
    if notes:
        output += "\n\n<webfetch_metadata>\n" + "\n".join(notes) + "\n</webfetch_metadata>"
    return ToolResult(
        output=output,
        title=f"{page.url} ({page.content_type})" if page.content_type else page.url,
        metadata={
            "url": page.url,
            "status": page.status,
            "contentType": page.content_type,
            "bytes": len(page.body),
            "truncated": page.cut or cut,
        },
    )
