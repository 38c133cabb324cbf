"""The patch format of the apply_patch tool: parsing it, and applying one file's hunks to its text.

    *** Begin Patch
    *** Add File: <path>            every following line starts with "+": the new file's lines
    *** Delete File: <path>
    *** Update File: <path>
    *** Move to: <path>             optional: the updated file ends up there
    @@ <a line of the file>         a hunk; the text after "@@" (optional) is a line to find first
     <kept line>
    -<removed line>
    +<added line>
    *** End of File                 optional: the hunk's lines end the file
    *** End Patch

Pure functions on strings: reading and writing files is the tool's business (`apply_patch`).
A hunk's old lines are looked for from where the previous hunk ended, first exactly, then ignoring
trailing whitespace, then surrounding whitespace, then with typographic punctuation read as ASCII.
A hunk with no old lines is inserted right after its `@@` line, or at the end of the file without
one. Every failure is a `PatchError` that names the file, the hunk and what was not found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

BEGIN, END = "*** Begin Patch", "*** End Patch"
ADD, DELETE, UPDATE, MOVE = "*** Add File:", "*** Delete File:", "*** Update File:", "*** Move to:"
END_OF_FILE = "*** End of File"
# A patch a model wrapped in a shell here-document: cat <<'EOF' ... EOF
_HEREDOC = re.compile(r"^(?:cat\s+)?<<\s*['\"]?(\w+)['\"]?\s*\n(.*)\n\1\s*$", re.DOTALL)


class PatchError(ValueError):
    """The patch cannot be read, or does not apply; the message says where."""


@dataclass(frozen=True)
class Hunk:
    context: str | None  # the text after "@@": a line to find before the old lines
    old: list[str]
    new: list[str]
    at_end: bool = False  # the old lines end the file

    def label(self, index: int) -> str:
        return f"hunk {index + 1}" + (f" (@@ {self.context})" if self.context else "")


@dataclass(frozen=True)
class AddFile:
    path: str
    content: str


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class UpdateFile:
    path: str
    move_to: str | None = None
    hunks: list[Hunk] = field(default_factory=list)


FileChange = AddFile | DeleteFile | UpdateFile


def _body(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").strip()
    heredoc = _HEREDOC.match(text)
    if heredoc:
        text = heredoc.group(2).strip()
    lines = text.split("\n")
    if not lines or lines[0].strip() != BEGIN or lines[-1].strip() != END:
        raise PatchError(f"a patch starts with the line '{BEGIN}' and ends with the line '{END}'")
    return lines[1:-1]


def _header(line: str, marker: str) -> str | None:
    if not line.startswith(marker):
        return None
    path = line[len(marker) :].strip()
    if not path:
        raise PatchError(f"'{marker}' names no file")
    return path


def parse(text: str) -> list[FileChange]:
    """The file changes of a patch, in order."""
    lines = _body(text)
    changes: list[FileChange] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if (path := _header(line, ADD)) is not None:
            i, added = _until_header(lines, i + 1)
            bad = next((a for a in added if not a.startswith("+")), None)
            if bad is not None:
                raise PatchError(f"in '{ADD} {path}' every line starts with '+', not {bad!r}")
            changes.append(AddFile(path, "".join(a[1:] + "\n" for a in added)))
        elif (path := _header(line, DELETE)) is not None:
            changes.append(DeleteFile(path))
            i += 1
        elif (path := _header(line, UPDATE)) is not None:
            i += 1
            move_to = _header(lines[i], MOVE) if i < len(lines) else None
            if move_to is not None:
                i += 1
            i, body = _until_header(lines, i)
            hunks = _hunks(path, body)
            if not hunks and move_to is None:
                raise PatchError(f"'{UPDATE} {path}' has no hunk")
            changes.append(UpdateFile(path, move_to, hunks))
        elif not line.strip():
            i += 1
        else:
            raise PatchError(f"unexpected line {line!r}: expected '{ADD}', '{DELETE}' or '{UPDATE}'")
    if not changes:
        raise PatchError("the patch changes no file")
    return changes


def _until_header(lines: list[str], i: int) -> tuple[int, list[str]]:
    """The lines from `i` up to the next file header (or the end), and where that is."""
    start = i
    while i < len(lines) and not lines[i].startswith((ADD, DELETE, UPDATE)):
        i += 1
    return i, lines[start:i]


def _hunks(path: str, body: list[str]) -> list[Hunk]:
    hunks: list[Hunk] = []
    context: str | None = None
    old: list[str] = []
    new: list[str] = []
    started = False  # a first hunk may leave out its "@@" line

    def close(at_end: bool = False) -> None:
        if old or new:
            hunks.append(Hunk(context, list(old), list(new), at_end))
        elif context is not None or at_end:
            raise PatchError(f"'{UPDATE} {path}': hunk {len(hunks) + 1} changes nothing")

    for line in body:
        if line.startswith("@@"):
            if started:
                close()
            context = line[2:].strip() or None
            old, new, started = [], [], True
        elif line == END_OF_FILE:
            close(at_end=True)
            context, old, new, started = None, [], [], False
        elif line[:1] in (" ", "-", "+") or line == "":
            started = True
            if line[:1] != "+":
                old.append(line[1:])
            if line[:1] != "-":
                new.append(line[1:])
        else:
            raise PatchError(f"'{UPDATE} {path}': a hunk line starts with ' ', '-' or '+', not {line!r}")
    if started:
        close()
    return hunks


# --- applying -------------------------------------------------------------------------------------

_TYPOGRAPHIC = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
        "\u2026": "...", "\u00a0": " ",
    }
)  # fmt: skip
_LOOSER: tuple[Callable[[str], str], ...] = (
    lambda s: s,
    str.rstrip,
    str.strip,
    lambda s: s.strip().translate(_TYPOGRAPHIC),
)


def _find(lines: list[str], wanted: list[str], start: int, at_end: bool) -> int:
    """Where `wanted` occurs in `lines` at or after `start`, or -1; each looser comparison is tried
    only once the stricter ones found nothing."""
    last = len(lines) - len(wanted)
    for norm in _LOOSER:
        target = [norm(w) for w in wanted]

        def matches(at: int, target: list[str] = target, norm: Callable[[str], str] = norm) -> bool:
            return all(norm(lines[at + k]) == target[k] for k in range(len(target)))

        if at_end and last >= start and matches(last):
            return last
        for at in range(start, last + 1):
            if matches(at):
                return at
    return -1


def apply_hunks(path: str, text: str, hunks: list[Hunk]) -> str:
    """`text` (a file's content) with the hunks applied; its line ending (LF or CRLF) is kept, and
    the result ends with one."""
    eol = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(eol)
    if lines[-1] == "":
        lines.pop()
    edits: list[tuple[int, int, list[str]]] = []  # (at, how many old lines, new lines)
    cursor = 0
    for index, hunk in enumerate(hunks):
        if hunk.context is not None:
            at = _find(lines, [hunk.context], cursor, False)
            if at < 0:
                raise PatchError(
                    f"{path}: {hunk.label(index)} does not apply: the line {hunk.context!r} was not found"
                )
            cursor = at + 1
        if not hunk.old:
            edits.append((cursor if hunk.context is not None else len(lines), 0, hunk.new))
            continue
        old, new = hunk.old, hunk.new
        at = _find(lines, old, cursor, hunk.at_end)
        if at < 0 and old[-1] == "":  # a trailing blank line the file does not have
            old, new = old[:-1], new[:-1] if new and new[-1] == "" else new
            at = _find(lines, old, cursor, hunk.at_end) if old else -1
        if at < 0:
            shown = "\n".join(hunk.old)
            raise PatchError(
                f"{path}: {hunk.label(index)} does not apply: these lines were not found:\n{shown}"
            )
        edits.append((at, len(old), new))
        cursor = at + len(old)
    # From the bottom up, so that each edit's position still holds; of two at one place, the later
    # hunk's goes in first and so ends up after the earlier's.
    for _, (at, count, new) in sorted(enumerate(edits), key=lambda e: (e[1][0], e[0]), reverse=True):
        lines[at : at + count] = new
    return eol.join(lines) + eol if lines else ""
