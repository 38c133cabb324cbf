"""The server of a data directory: the one already running on it, or one started for a while.

`wakeful run` without `--url` needs a server on the user's data directory. If a server holds the
directory's lock, the lock file names its URL. Otherwise one is started as a child process
(`python -m wakeful serve --port 0`), used, and stopped with SIGTERM (its graceful drain) on exit.

A child process rather than a server thread in the command's own process: uvicorn installs signal
handlers, which only the main thread may do, and the command line wants SIGINT for itself (Ctrl-C
aborts the run, it must not shut the server down under it). The child gets its own session
(`start_new_session`), so the terminal's Ctrl-C reaches only the command line, which then aborts
the run through the API and stops the child when the answer is in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from wakeful.client.errors import ClientError
from wakeful.server.lock import read_holder

LISTENING = "wakeful listening on "


class ServerStartFailed(ClientError):
    pass


def running_server(data_dir: Path, wait: float = 10.0) -> str | None:
    """The URL of the server holding `data_dir`, if one does. A server that has the lock but has
    not written its URL yet is still binding its socket: wait for it a little."""
    give_up = time.monotonic() + wait
    while True:
        holder = read_holder(data_dir)
        if holder is None:
            return None
        url = holder.get("url")
        if isinstance(url, str) and url:
            return url
        if time.monotonic() > give_up:
            raise ServerStartFailed(f"the server holding {data_dir} (pid {holder.get('pid')}) gives no URL")
        time.sleep(0.05)


class LocalServer:
    """`with LocalServer(data_dir) as url:` a server for `data_dir`, found or started."""

    def __init__(
        self,
        data_dir: Path,
        *,
        project_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 60.0,
    ) -> None:
        self.data_dir = data_dir
        self.project_dir = project_dir or Path.cwd()
        self.env = dict(os.environ if env is None else env)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.url = ""

    def __enter__(self) -> str:
        found = running_server(self.data_dir)
        self.url = found if found is not None else self._start()
        return self.url

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _start(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wakeful", "serve", "--port", "0", "--data-dir", str(self.data_dir)],
            cwd=self.project_dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        listening = threading.Event()
        # Reading the output in a thread both finds the URL and keeps the pipe from filling up.
        threading.Thread(target=self._read_output, args=(listening,), daemon=True).start()
        listening.wait(self.start_timeout)
        if self.url:
            return self.url
        code = self.process.poll()
        self.stop()
        # Another command may have started a server on the same directory a moment before us.
        found = running_server(self.data_dir)
        if found is not None:
            return found
        tail = "".join(self.output[-20:]).strip()
        raise ServerStartFailed(f"could not start a server on {self.data_dir} (exit {code}): {tail}")

    def _read_output(self, listening: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith(LISTENING) and not self.url:
                self.url = line[len(LISTENING) :].strip()
                listening.set()
        listening.set()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # the graceful drain: its runs finish or are stored aborted
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
