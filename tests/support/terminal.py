"""A program in a pseudo-terminal of its own, driven by keys and read off the screen: a tmux session
on a private socket (tmux from the Debian package; scripts/ensure-system.sh installs it).

Reads wait for the screen to show something, polling the pane, never for a fixed time.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

POLL = 0.2  # seconds between two looks at the screen while waiting for it to change


class Terminal:
    def __init__(self, socket: Path, *, width: int = 120, height: int = 50) -> None:
        tmux = shutil.which("tmux")
        assert tmux, "tmux is required (make test installs it: scripts/ensure-system.sh test)"
        self.tmux = tmux
        self.socket = socket
        self.width = width
        self.height = height
        self.started = False

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux, "-S", str(self.socket), *args], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, f"tmux {' '.join(args)}: {done.stderr}"
        return done.stdout

    def start(self, command: Sequence[str], env: Mapping[str, str], cwd: Path) -> Terminal:
        """Run `command` with exactly `env` (and TERM) in a new window of the given size. The pane
        stays open after the program exits, so that its last screen can still be read."""
        environment = ["env", "-i", *(f"{k}={v}" for k, v in env.items())]
        line = shlex.join([*environment, *command])
        self._run(
            "new-session", "-d", "-s", "main", "-x", str(self.width), "-y", str(self.height),
            "-c", str(cwd), line,
        )  # fmt: skip
        self.started = True
        self._run("set-option", "-t", "main", "remain-on-exit", "on")
        return self

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", "main")

    def wait_for(self, what: str, found: Callable[[str], bool], patience: float) -> str:
        """The screen, once `found(screen)` holds; fails after `patience` seconds with the last
        screen seen."""
        deadline = time.monotonic() + patience
        while True:
            screen = self.screen()
            if found(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what} in {patience:g} s:\n{screen}")
            time.sleep(POLL)

    def press_until(self, key: str, what: str, found: Callable[[str], bool], patience: float) -> str:
        """Press `key` (PageUp, to scroll back) until the screen shows `what`."""
        deadline = time.monotonic() + patience
        while not found(screen := self.screen()):
            if time.monotonic() > deadline:
                raise AssertionError(f"pressing {key} never showed {what} in {patience:g} s:\n{screen}")
            self.press(key)
            with contextlib.suppress(AssertionError):
                return self.wait_for(what, found, POLL * 5)
        return screen

    def type(self, text: str) -> None:
        self._run("send-keys", "-t", "main", "-l", text)

    def press(self, key: str) -> None:
        self._run("send-keys", "-t", "main", key)

    def close(self) -> None:
        """Ends the program (tmux hangs its terminal up) and the tmux server."""
        if self.started:
            subprocess.run(
                [self.tmux, "-S", str(self.socket), "kill-server"], capture_output=True, timeout=30
            )
            self.started = False
