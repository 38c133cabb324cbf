"""A streamed answer's server-sent events, read straight off an HTTP response.

The OpenAI adapter sends its request on its HTTP client itself and reads the events here, instead of
through the SDK's stream, which decodes each line through several generator layers. The reading is
the SDK's: events split by a blank line, `data:` lines joined by newlines, `:` lines ignored, the
stream over at `[DONE]` (its rest drained, so an HTTP/1.1 connection goes back to the pool), every
event's data one JSON value, and a value with a truthy `error` the failure it reports.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx2

from wakeful.providers.http import stream_error

_FALLBACK = "An error occurred during streaming"


async def _events(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Each event's data; an event with fields but no data yields "" (the SDK then fails to parse
    it too)."""
    buffer = b""
    data: list[str] = []
    fields = False  # a field other than data was seen since the last dispatch
    async for chunk in chunks:
        buffer += chunk
        lines = buffer.splitlines(keepends=True)
        # A last line without its "\n" may be cut mid-line, or be a "\r" whose "\n" is still to come.
        buffer = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for raw in lines:
            line = raw.rstrip(b"\r\n")
            if not line:
                if data or fields:
                    yield "\n".join(data)
                    data, fields = [], False
                continue
            if line[0] == 58:  # b":", a comment
                continue
            name, _, value = line.decode().partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name in ("event", "id", "retry"):
                fields = True


class SSEStream:
    """The JSON values of a streamed answer's events; `close` releases its connection."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self._values = self._read()

    async def close(self) -> None:
        await self.response.aclose()

    def __aiter__(self) -> SSEStream:
        return self

    async def __anext__(self) -> object:
        return await self._values.__anext__()

    async def _read(self) -> AsyncIterator[object]:
        chunks = self.response.aiter_bytes()
        async for text in _events(chunks):
            if text.startswith("[DONE]"):
                try:
                    async for _ in chunks:
                        pass
                except httpx2.RequestError:
                    pass  # the answer is complete; a failure after it is no failure of the call
                return
            value = json.loads(text)
            if isinstance(value, dict) and (error := value.get("error")):
                message = error.get("message") if isinstance(error, dict) else None
                raise stream_error(error, message if message and isinstance(message, str) else _FALLBACK)
            yield value
