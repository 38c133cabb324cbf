"""Unit tests of wakeful.project.files: opens that never block, regular files only, bounded reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wakeful.project.files import NotRegularFileError, read_regular, regular_file


def test_a_regular_file_is_read_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    assert read_regular(path, 4) == (b"0123", True)
    assert read_regular(path, 10) == (b"0123456789", False)


def test_a_fifo_is_refused_at_once_for_reading_and_writing(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="named pipe"):
        read_regular(fifo, 10)
    with pytest.raises(OSError):  # no reader: a non-blocking open for writing fails (ENXIO)
        with regular_file(fifo, write=True):
            pass


def test_devices_and_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFileError, match="character device"):
        read_regular(Path("/dev/zero"), 10)
    with pytest.raises(NotRegularFileError) as info:
        read_regular(tmp_path, 10)
    assert info.value.is_directory


def test_writing_empties_only_a_regular_file_and_follow_false_refuses_a_link(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.write_text("old content")
    with regular_file(target, write=True) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(OSError):
        read_regular(link, 10, follow=False)
    assert read_regular(link, 10) == (b"new", False)
