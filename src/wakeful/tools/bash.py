"""The bash tool, and `run_shell`, which runs a command so that nothing it starts outlives it.

Every command gets its own process group (`start_new_session=True`), and every way out of
`run_shell` (normal exit, timeout, cancellation, an error) ends with SIGKILL to that group.

The command waits behind a gate until `on_process` has recorded its group: a server killed in
between closes the gate's pipe, and the shell exits without running anything, so no command ever
runs that crash recovery could not find.

Before anything runs, the bash tool asks `bash` for every command of the line, and
`external_directory` for a working directory, a redirection target or a path argument of the
commands that take paths (`cd`, `rm`, `cp`, `mv`, `mkdir`, `touch`, `chmod`, `chown`, `cat`) that
lies outside the project. That is a check of the line as written, not a sandbox: what a program
does once it runs is not seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import Field

from wakeful.errors import ToolError
from wakeful.project.permissions import ShellCommand, always_pattern, parse_shell, unquote
from wakeful.tools.base import ToolContext, ToolResult
from wakeful.tools.output import KeptOutputs, kept_note
from wakeful.tools.paths import confine, inside, project_roots, real_path
from wakeful.tools.typed import NonBlank, ToolArgs, tool

ProcessCallback = Callable[[int | None], Awaitable[None]]

# After the shell exits, a background child (`sleep 300 &`) may still hold the pipe open; output
# already written arrives within milliseconds, so waiting longer only delays the answer.
DRAIN_SECONDS = 0.15
TERM_GRACE_SECONDS = 0.5  # SIGTERM on timeout gives the command this long to clean up
GONE_DEADLINE_SECONDS = 1.0
_POLL_SECONDS = 0.01


@dataclass
class ShellOutcome:
    output: str  # stdout and stderr interleaved, already truncated
    exit_code: int | None  # None when the command was killed for its timeout
    timed_out: bool
    truncated: bool
    pgid: int
    kept: Path | None = None  # the whole output, when it was truncated and a place to keep it was given


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (or this process's environment) without the server passwords."""
    source = os.environ if env is None else env
    # OPENCODE_SERVER_PASSWORD, WAKEFUL_SERVER_PASSWORD and any look-alike: a command the model
    # writes must never be able to print the password that guards the server it runs under.
    return {k: v for k, v in source.items() if not k.endswith("_SERVER_PASSWORD")}


class _Capture:
    """Keeps the first and last `limit` bytes of a stream of any length; with `keep`, a stream
    longer than that is also written whole to a kept file (in buffered pieces, as it arrives)."""

    def __init__(self, limit: int, keep: KeptOutputs | None = None) -> None:
        self.limit = max(limit, 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._keep = keep
        self.kept: Path | None = None
        self._file: IO[bytes] | None = None

    def _spill(self, data: bytes) -> None:
        if self._file is None and self._keep is not None and self.total > self.limit:
            keep, self._keep = self._keep, None
            try:
                self.kept, self._file = keep.open_spill()
                self._file.write(self.head)  # until now the head held every byte
            except OSError:
                self.kept = self._file = None
        if self._file is not None:
            self._file.write(data)

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self._spill(data)
        if len(self.head) < self.limit:
            self.head += data[: self.limit - len(self.head)]
        self.tail += data
        if len(self.tail) > self.limit:
            del self.tail[: len(self.tail) - self.limit]

    def text(self) -> tuple[str, bool]:
        if self.total <= self.limit:
            return self.head.decode(errors="replace"), False
        keep_head = self.limit // 2
        keep_tail = self.limit - keep_head
        dropped = self.total - keep_head - keep_tail
        head = self.head[:keep_head].decode(errors="replace")
        tail = self.tail[-keep_tail:].decode(errors="replace")
        return f"{head}\n\n... {dropped} bytes truncated ...\n\n{tail}", True


def truncate_lines(text: str, max_lines: int) -> tuple[str, bool]:
    lines = text.splitlines(keepends=True)
    if max_lines <= 0 or len(lines) <= max_lines:
        return text, False
    keep_head = max_lines // 2
    keep_tail = max_lines - keep_head
    dropped = len(lines) - max_lines
    head = "".join(lines[:keep_head])
    tail = "".join(lines[-keep_tail:]) if keep_tail else ""
    return f"{head}\n... {dropped} lines truncated ...\n\n{tail}", True


class _Collector(asyncio.SubprocessProtocol):
    # A protocol rather than `Process.wait()`: on Python 3.11 `wait()` only returns once every pipe
    # is closed, so a background child holding stdout would hang it.
    def __init__(self, limit: int, keep: KeptOutputs | None) -> None:
        self.capture = _Capture(limit, keep)
        self.exited = asyncio.Event()
        self.eof = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.capture.feed(data if isinstance(data, bytes) else data.encode())

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.eof.set()

    def process_exited(self) -> None:
        self.exited.set()


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to process group `pgid`, if it still exists and is ours to signal."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_members(pgid: int) -> list[tuple[int, str]] | None:
    """(pid, state) of every process in group `pgid`, or None without a readable /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    members: list[tuple[int, str]] = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and fields[2] == str(pgid):
            members.append((int(name), fields[0]))
    return members


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs. Zombies count as gone: they hold nothing, and
    reaping an orphan is its new parent's job (some container inits do it only every second or so)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    members = group_members(pgid)
    return members is None or any(state not in ("Z", "X") for _, state in members)


async def _wait_until(predicate: Callable[[], bool], seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(_POLL_SECONDS)
    return True


async def _wait_event(event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass


async def _kill_group(pgid: int, proto: _Collector, transport: asyncio.SubprocessTransport) -> None:
    try:
        signal_group(pgid, signal.SIGKILL)
        await _wait_until(lambda: proto.exited.is_set() and not group_alive(pgid), GONE_DEADLINE_SECONDS)
        # Every writer is dead now, so whatever they wrote is already in the pipe.
        await _wait_event(proto.eof, DRAIN_SECONDS)
    finally:
        transport.close()


def shell_path() -> str:
    return shutil.which("bash") or "/bin/sh"


# Run as `shell -c _GATE shell command` with the gate's pipe as stdin: wait for the parent's
# newline (EOF means the parent died), then become `shell -c command` with stdin on /dev/null, the
# very process an ungated start would have made.
_GATE = 'read -r _ || exit 125; exec "$0" -c "$1" </dev/null'


async def run_shell(
    command: str,
    cwd: str | Path,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
    on_process: ProcessCallback | None = None,
    *,
    max_bytes: int = 50_000,
    max_lines: int = 2_000,
    keep: KeptOutputs | None = None,
) -> ShellOutcome:
    """Run `command` with bash (or /bin/sh) in `cwd`; `timeout` is in seconds, None for none.

    `env` is sanitized with `child_env` (None means this process's environment). `on_process` gets
    the process-group id once it exists and None once the group is gone. An output over `max_bytes`
    is kept whole in a file of `keep`, if given. Raises OSError when the shell cannot be started;
    cancellation kills the whole group before it propagates.
    """
    loop = asyncio.get_running_loop()
    shell = shell_path()
    gate_read, gate_write = os.pipe()
    try:
        transport, proto = await loop.subprocess_exec(
            lambda: _Collector(max_bytes, keep),
            shell,
            "-c",
            _GATE,
            shell,
            command,
            stdin=gate_read,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=str(cwd),
            env=child_env(env),
            start_new_session=True,
        )
    except BaseException:
        os.close(gate_write)
        raise
    finally:
        os.close(gate_read)
    pgid = transport.get_pid()  # a new session makes the shell its group's leader
    timed_out = False
    try:
        try:
            if on_process is not None:
                await on_process(pgid)
            with contextlib.suppress(BrokenPipeError):  # the shell is already gone
                os.write(gate_write, b"\n")
        finally:
            os.close(gate_write)
        try:
            await asyncio.wait_for(proto.exited.wait(), timeout)
        except TimeoutError:
            timed_out = True
            signal_group(pgid, signal.SIGTERM)
            await _wait_until(lambda: not group_alive(pgid), TERM_GRACE_SECONDS)
        else:
            await _wait_event(proto.eof, DRAIN_SECONDS)
    finally:
        try:
            await _kill_group(pgid, proto, transport)
        finally:
            proto.capture.close()
            if on_process is not None:
                await on_process(None)
    text, cut_bytes = proto.capture.text()
    text, cut_lines = truncate_lines(text, max_lines)
    kept = proto.capture.kept
    if keep is not None:
        if kept is not None:
            await keep.swept()
        elif cut_lines:  # the bytes fit, so the head holds the whole output
            kept = await keep.keep(proto.capture.head.decode(errors="replace"))
    return ShellOutcome(
        output=text,
        exit_code=None if timed_out else transport.get_returncode(),
        timed_out=timed_out,
        truncated=cut_bytes or cut_lines,
        pgid=pgid,
        kept=kept,
    )


class BashArgs(ToolArgs):
    command: NonBlank = Field(description="The command to execute")
    timeout: float | None = Field(None, gt=0, description="Optional timeout in milliseconds")
    workdir: str | None = Field(
        None, description="Directory to run in, absolute or relative to the project directory"
    )
    description: str | None = Field(
        None, description="Clear, concise description of what this command does in 5-10 words"
    )


@tool("bash", read_only=False)
async def bash_tool(args: BashArgs, ctx: ToolContext) -> ToolResult:
    """Executes a shell command with bash in the project directory and returns its combined stdout
    and stderr.

    - Use it for builds, tests, git, package managers and other terminal operations. Prefer the read,
    write, edit, glob, grep and list tools for reading, changing and finding files.
    - Quote paths that contain spaces. Chain dependent commands with '&&'; use 'workdir' instead of
    'cd <dir> && ...'.
    - 'timeout' is in milliseconds (default 120000, at most 600000); on timeout the command and
    everything it started are killed.
    - stdin is closed, so interactive commands fail: pass flags like '-y' or '--no-pager'.
    - Long output is truncated in the middle and kept whole in a file whose path the result gives.
    A non-zero exit code is reported, not an error.
    - Always give a short 'description' (5-10 words) of what the command does.
    """
    seconds = ctx.config.bash_timeout if args.timeout is None else args.timeout / 1000
    seconds = min(seconds, ctx.config.bash_max_timeout)
    cwd = await _workdir(args.workdir, ctx)
    await _ask(args, cwd, ctx)
    try:
        outcome = await run_shell(
            args.command,
            cwd,
            seconds,
            ctx.env,
            ctx.on_process,
            max_bytes=ctx.config.tool_output_max_bytes,
            max_lines=ctx.config.tool_output_max_lines,
            keep=ctx.outputs,
        )
    except OSError as exc:
        raise ToolError(f"Could not start the shell: {exc}") from exc

    notes: list[str] = []
    if outcome.timed_out:
        notes.append(f"bash tool terminated command after exceeding timeout {round(seconds * 1000)} ms")
    elif outcome.exit_code:
        notes.append(f"command exited with code {outcome.exit_code}")
    if outcome.kept is not None:
        notes.append(kept_note(outcome.kept))
    output = outcome.output
    if notes:
        output += "\n\n<bash_metadata>\n" + "\n".join(notes) + "\n</bash_metadata>"
    metadata: dict[str, Any] = {
        "output": output,
        "exit": outcome.exit_code,
        "truncated": outcome.truncated,
    }
    if outcome.kept is not None:
        metadata["outputPath"] = str(outcome.kept)
    if args.description:
        metadata["description"] = args.description
    return ToolResult(output=output, title=args.description or args.command, metadata=metadata)


async def _workdir(raw: str | None, ctx: ToolContext) -> Path:
    if not raw:
        return ctx.directory
    path = real_path(ctx.directory, raw)
    if not path.is_dir():
        raise ToolError(f"workdir is not a directory: {path}")
    await confine(ctx, path, "directory")
    return path


# Commands whose arguments are paths, and files a redirection may name without touching anything.
_PATH_COMMANDS = frozenset("cd rm cp mv mkdir touch chmod chown cat".split())
_STREAMS = frozenset({"/dev/null", "/dev/stdin", "/dev/stdout", "/dev/stderr"})


def _scan(command: str, cwd: Path, roots: tuple[Path, ...]) -> tuple[list[ShellCommand], list[str]]:
    """The line's commands, and the `<directory>/*` patterns of what it touches outside `roots`."""
    line = parse_shell(command)
    outside: dict[str, None] = {}  # in order, once each

    def consider(raw: str) -> None:
        if raw in _STREAMS:
            return
        path = real_path(cwd, raw)
        if not inside(path, roots):
            directory = path if path.is_dir() else path.parent
            outside[directory.as_posix().rstrip("/") + "/*"] = None

    for found in line.commands:
        if found.words[:1] and found.words[0] in _PATH_COMMANDS:
            for word in found.words[1:]:
                if not word.startswith(("-", "+")):  # options, and chmod's +x
                    consider(unquote(word))
    for target in line.redirects:
        consider(target)
    return line.commands, list(outside)


async def _ask(args: BashArgs, cwd: Path, ctx: ToolContext) -> None:
    roots = project_roots(ctx.directory)
    # In the pool: a line of thousands of commands takes a while to parse.
    commands, outside = await ctx.pool.run(lambda stop: _scan(args.command, cwd, roots))
    metadata: dict[str, Any] = {"command": args.command}
    if args.description:
        metadata["description"] = args.description
    if outside:
        await ctx.ask("external_directory", outside, always=outside, metadata=metadata)
    # `cd` itself changes nothing; where it goes was checked above.
    commands = [c for c in commands if c.words[:1] != ("cd",)]
    always = list(dict.fromkeys(always_pattern(c) for c in commands))
    await ctx.ask("bash", [c.text for c in commands], always=always, metadata=metadata)
