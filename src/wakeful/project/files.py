"""Opening a project's files so that no open and no read can block.

A path may name a FIFO, a device or a socket, or turn into one between a check and the open. Opened
plainly, a FIFO holds its opener until a writer comes (forever, if none does) and `/dev/zero` never
ends. Here every open is non-blocking (a FIFO opens at once for reading; for writing, with no
reader, it fails), `fstat` on the open descriptor refuses anything but a regular file before a
byte moves, and whole-file reads stop at a limit.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """The path names something that is not a regular file (`kind` says what); nothing was read or
    written."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"not a regular file: it is {kind}")
        self.kind = kind

    @property
    def is_directory(self) -> bool:
        return self.kind == "a directory"


def _check_regular(fd: int) -> None:
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(next((name for test, name in _KINDS if test(mode)), "something else"))


@contextmanager
def regular_file(path: Path, *, write: bool = False, follow: bool = True) -> Iterator[BinaryIO]:
    """`path` opened for binary reading (or, with `write`, created if missing and emptied for
    writing), once it is known to be a regular file. `follow=False` refuses a symbolic link as the
    last component: for a path already resolved, one swapped in since is not followed."""
    flags = os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    flags |= (os.O_WRONLY | os.O_CREAT) if write else os.O_RDONLY
    if not follow:
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags, 0o666)
    try:
        _check_regular(fd)
        if write:
            os.ftruncate(fd, 0)  # only now: truncating at open would empty whatever the path was
        stream = os.fdopen(fd, "wb" if write else "rb")
    except BaseException:
        os.close(fd)
        raise
    with stream:
        yield stream


def read_regular(path: Path, limit: int, *, follow: bool = True) -> tuple[bytes, bool]:
    """At most `limit` bytes of the regular file `path`, and whether more follow."""
    with regular_file(path, follow=follow) as f:
        data = f.read(limit + 1)
    return data[:limit], len(data) > limit
