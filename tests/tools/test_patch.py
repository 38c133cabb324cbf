"""The patch format (wakeful.tools.patch): parsing, and applying one file's hunks to its text."""

from __future__ import annotations

import re

import pytest

from wakeful.tools.patch import AddFile, DeleteFile, Hunk, PatchError, UpdateFile, apply_hunks, parse


def patch(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"])


def test_parse_every_kind_of_change() -> None:
    text = patch(
        "*** Add File: new.txt",
        "+first",
        "+",
        "+last",
        "*** Update File: src/app.py",
        "*** Move to: src/main.py",
        "@@ def run():",
        "-    return 1",
        "+    return 2",
        "@@",
        " x = 1",
        "+y = 2",
        "*** End of File",
        "*** Delete File: old.txt",
    )
    assert parse(text) == [
        AddFile("new.txt", "first\n\nlast\n"),
        UpdateFile(
            "src/app.py",
            "src/main.py",
            [
                Hunk("def run():", ["    return 1"], ["    return 2"]),
                Hunk(None, ["x = 1"], ["x = 1", "y = 2"], True),
            ],
        ),
        DeleteFile("old.txt"),
    ]


def test_parse_accepts_crlf_a_heredoc_and_a_first_hunk_without_its_at_line() -> None:
    body = patch("*** Update File: a.txt", " keep", "-old", "+new").replace("\n", "\r\n")
    wrapped = f"cat <<'EOF'\r\n{body}\r\nEOF"
    assert parse(wrapped) == [UpdateFile("a.txt", None, [Hunk(None, ["keep", "old"], ["keep", "new"])])]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("*** Add File: a\n+x", "starts with the line '*** Begin Patch'"),
        (patch(), "changes no file"),
        (patch("*** Add File: a", "no plus"), "every line starts with '+'"),
        (patch("*** Update File: a"), "has no hunk"),
        (patch("*** Update File: a", "@@ x", "?what"), "starts with ' ', '-' or '+'"),
        (patch("*** Frobnicate File: a"), "unexpected line"),
        (patch("*** Delete File:"), "names no file"),
    ],
)
def test_parse_refuses_what_it_cannot_read(text: str, says: str) -> None:
    with pytest.raises(PatchError, match=re.escape(says)):
        parse(text)


def test_hunks_apply_in_order_from_their_context_line() -> None:
    text = "def a():\n    return 1\n\ndef b():\n    return 1\n"
    hunks = [Hunk("def b():", ["    return 1"], ["    return 2"])]
    assert apply_hunks("f.py", text, hunks) == "def a():\n    return 1\n\ndef b():\n    return 2\n"


def test_an_insertion_goes_after_its_context_line_or_at_the_end() -> None:
    text = "one\ntwo\n"
    assert apply_hunks("f", text, [Hunk("one", [], ["one and a half"])]) == "one\none and a half\ntwo\n"
    assert apply_hunks("f", text, [Hunk(None, [], ["three"])]) == "one\ntwo\nthree\n"


def test_matching_forgives_whitespace_and_typographic_punctuation() -> None:
    text = "say(\u201chello\u201d)   \n  indented\n"
    hunks = [Hunk(None, ['say("hello")'], ['say("bye")']), Hunk(None, ["indented"], ["moved"])]
    assert apply_hunks("f", text, hunks) == 'say("bye")\nmoved\n'


def test_crlf_files_keep_their_line_ends() -> None:
    assert apply_hunks("f", "a\r\nb\r\n", [Hunk(None, ["b"], ["c"])]) == "a\r\nc\r\n"


def test_end_of_file_anchors_the_last_occurrence() -> None:
    text = "x\ny\nx\n"
    assert apply_hunks("f", text, [Hunk(None, ["x"], ["z"], at_end=True)]) == "x\ny\nz\n"


def test_a_hunk_that_does_not_apply_names_the_file_and_the_hunk() -> None:
    hunks = [Hunk(None, ["a"], ["b"]), Hunk("def gone():", ["x"], ["y"])]
    with pytest.raises(PatchError, match=r"f\.py: hunk 2 \(@@ def gone\(\):\) does not apply"):
        apply_hunks("f.py", "a\nx\n", hunks)
    with pytest.raises(
        PatchError, match=r"f\.py: hunk 1 does not apply: these lines were not found:\nmissing"
    ):
        apply_hunks("f.py", "a\n", [Hunk(None, ["missing"], ["b"])])
