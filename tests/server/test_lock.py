"""The data-directory lock: one server per directory, and who holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.errors import StartupError
from wakeful.server.lock import DataDirLock, read_holder


def test_a_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path / "data")
    first.acquire()
    try:
        first.describe(pid=4242, url="http://127.0.0.1:9")
        with pytest.raises(StartupError, match=r"pid 4242 serving http://127\.0\.0\.1:9"):
            DataDirLock(tmp_path / "data").acquire()
        assert read_holder(tmp_path / "data") == {"pid": 4242, "url": "http://127.0.0.1:9"}
    finally:
        first.release()


def test_a_released_lock_has_no_holder_and_can_be_taken_again(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path)
    lock.acquire()
    lock.release()
    assert read_holder(tmp_path) is None
    again = DataDirLock(tmp_path)
    again.acquire()
    again.release()


def test_no_lock_file_means_no_holder(tmp_path: Path) -> None:
    assert read_holder(tmp_path / "missing") is None
