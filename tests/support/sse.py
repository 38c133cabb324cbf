"""A small reader of wakeful's SSE stream for the tests (raw frames, with their `id:` lines)."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Frame:
    id: str | None
    data: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.data["type"])


def parse(lines: list[str]) -> Frame | None:
    event_id, data = None, []
    for line in lines:
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if not data:
        return None
    return Frame(event_id, json.loads("\n".join(data)))


class EventReader:
    """Reads `/event` in a thread; frames arrive on a queue so tests can wait for one."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, auth: Any = None) -> None:
        self.frames: queue.Queue[Frame | None] = queue.Queue()
        self.seen: list[Frame] = []
        self._client = httpx.Client(base_url=url, timeout=httpx.Timeout(30.0, read=None), auth=auth)
        self._headers = headers or {}
        self.status: int | None = None
        self.response_headers: httpx.Headers | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._started.wait(10)

    def _run(self) -> None:
        try:
            with self._client.stream("GET", "/event", headers=self._headers) as response:
                self.status = response.status_code
                self.response_headers = response.headers
                self._started.set()
                lines: list[str] = []
                for line in response.iter_lines():
                    if line == "":
                        frame = parse(lines)
                        lines = []
                        if frame is not None:
                            self.frames.put(frame)
                    else:
                        lines.append(line)
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            self._started.set()
            self.frames.put(None)

    def next(self, timeout: float = 10.0) -> Frame | None:
        frame = self.frames.get(timeout=timeout)
        if frame is not None:
            self.seen.append(frame)
        return frame

    def until(self, predicate: Any, timeout: float = 10.0) -> Frame:
        while True:
            frame = self.next(timeout)
            if frame is None:
                raise AssertionError("the event stream ended")
            if predicate(frame):
                return frame

    def close(self) -> None:
        self._client.close()
