"""What the model sees of a session: stored messages turned into a neutral conversation.

A run's history is every stored message except the prompts queued behind it (user messages stored
after its own, compaction requests aside) and their answers. After a compaction the history is the
reference's compacted view: the compaction request (shown as a question) and its summary, then the
messages the compaction kept verbatim (from its `tail_start_id`), then everything after the summary;
what came before is known only through the summary. A run whose own prompt went into a summary sees
that prompt again right after the summary: the task of a run is never paraphrased away.

Pruned tool outputs (`state.time.compacted`) are replaced by a placeholder. The view of a session
is loaded page by page from the end, so a run reads what it shows the model, not the whole session.

`file://` parts are read once per run (`read_files`), not at every step and never on the event
loop: each path is resolved and confined like a tool's (leaving the project asks
`external_directory`), then read in the tool pool, non-blocking and only if it is a regular file, at
most MAX_INLINE_BYTES. A part that cannot be read, or may not be, reaches the model as a note
saying why.
"""

from __future__ import annotations

import itertools
import json
import mimetypes
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlparse

from wakeful.errors import ToolError
from wakeful.project.files import read_regular
from wakeful.providers.base import (
    Attachment,
    ChatMessage,
    ToolCall,
    data_url_bytes,
    is_text_mime,
    to_data_url,
)
from wakeful.run.tokens import message_tokens
from wakeful.session.messages import MessageLog
from wakeful.tools.base import ToolContext
from wakeful.tools.paths import confine, real_path

MAX_INLINE_BYTES = 256 * 1024
PAGE = 200  # messages read at a time when loading a view
COMPACTION_QUESTION = "What has happened in this session so far?"
PRUNED_OUTPUT = "(This old tool output was removed from the conversation to save space.)"

Entry = dict[str, Any]  # a stored message: {"info": ..., "parts": [...]}


@dataclass(frozen=True)
class FileContent:
    """A `file://` part as this run read it: text to inline, or an attachment."""

    text: str | None = None
    attachment: Attachment | None = None


Files = Mapping[str, FileContent]  # part id -> the content `read_files` read
NO_FILES: Files = MappingProxyType({})


def is_compaction(entry: Entry) -> bool:
    """A compaction request: a user message with a `compaction` part."""
    return entry["info"]["role"] == "user" and any(p["type"] == "compaction" for p in entry["parts"])


def compaction_part(entry: Entry) -> dict[str, Any] | None:
    return next((p for p in entry["parts"] if p["type"] == "compaction"), None)


def is_summary(entry: Entry) -> bool:
    """A finished compaction summary."""
    info = entry["info"]
    completed = (info.get("time") or {}).get("completed")
    return bool(info["role"] == "assistant" and info.get("summary") and completed and not info.get("error"))


def select(messages: list[Entry], user_message_id: str) -> list[Entry]:
    """What the run of `user_message_id` may see: not the prompts queued after it, nor their answers."""
    later: set[str] = set()
    for entry in reversed(messages):  # from the end: the run's prompt is usually the last one
        info = entry["info"]
        if info["role"] == "user":
            if info["id"] == user_message_id:
                break
            if not is_compaction(entry):
                later.add(info["id"])
    else:
        later.clear()  # the prompt is not among them: nothing is later than it
    if not later:
        return list(messages)
    return [m for m in messages if m["info"]["id"] not in later and m["info"].get("parentID") not in later]


def _latest_compaction(messages: list[Entry]) -> tuple[int, int] | None:
    """(index of the request, index of its summary) of the latest finished compaction."""
    index = {m["info"]["id"]: i for i, m in enumerate(messages)}
    for j in range(len(messages) - 1, -1, -1):
        if is_summary(messages[j]):
            i = index.get(messages[j]["info"].get("parentID", ""))
            if i is not None and is_compaction(messages[i]):
                return i, j
    return None


def compacted(messages: list[Entry]) -> list[Entry]:
    """The view after the latest finished compaction. Other compactions (earlier ones, and any
    whose summary never finished) are left out, so the model never sees an unanswered question."""
    pairs = {m["info"]["id"] for m in messages if is_compaction(m)}
    if not pairs:
        return list(messages)

    def plain(ms: list[Entry]) -> list[Entry]:
        return [m for m in ms if m["info"]["id"] not in pairs and m["info"].get("parentID") not in pairs]

    found = _latest_compaction(messages)
    if found is None:
        return plain(messages)
    c, s = found
    request, summary = messages[c], messages[s]
    tail_id = (compaction_part(request) or {}).get("tail_start_id")
    start = next((i for i, m in enumerate(messages[:c]) if m["info"]["id"] == tail_id), c)
    return [request, summary, *plain(messages[start:c]), *plain(messages[c + 1 :])]


def with_prompt(view: list[Entry], prompt: Entry | None) -> list[Entry]:
    """`view` with the run's prompt right after the summary, if the compaction summarised it away."""
    if prompt is None or any(m["info"]["id"] == prompt["info"]["id"] for m in reversed(view)):
        return view
    if len(view) >= 2 and is_compaction(view[0]):
        return [view[0], view[1], prompt, *view[2:]]
    return [prompt, *view]


def _complete(messages: list[Entry], user_message_id: str) -> bool:
    """Whether `messages`, the end of a session, hold everything the run's view needs."""
    if not any(m["info"]["id"] == user_message_id for m in messages):
        return False
    found = _latest_compaction(select(messages, user_message_id))
    if found is None:
        return False
    tail_id = (compaction_part(messages[found[0]]) or {}).get("tail_start_id")
    return tail_id is None or any(m["info"]["id"] == tail_id for m in messages)


@dataclass(frozen=True)
class View:
    """What `load` found for a run: its entries (shared with the log's `recent` messages: copy one
    before changing it), whether any of them may hold `file://` parts to read, and the session's
    `RecentMessages.memo` (None when nothing is kept), where the run's Conversation is left for
    the next run to start from."""

    entries: list[Entry]
    reads_files: bool
    memo: dict[str, Any] | None

    def conversation(self, files: Files, derive: Derive | None) -> Conversation:
        base = self.memo.get(_CONVERSATION) if self.memo is not None else None
        conversation = Conversation(self.entries, files, derive, base)
        if self.memo is not None:
            self.memo[_CONVERSATION] = conversation
        return conversation


_SCAN, _CONVERSATION = "history.scan", "history.conversation"


@dataclass(frozen=True)
class _Scan:
    """What `_scan` found in a session's first `count` messages, the last of them being `last`."""

    count: int
    last: Entry
    compactions: bool
    files: bool


def _scan(messages: list[Entry], memo: dict[str, Any] | None) -> tuple[bool, bool]:
    """Whether `messages` hold a compaction request, and a user message with `file://` parts. What
    an earlier run found in the same first messages (the same objects) is taken from `memo`."""
    start, compactions, files = 0, False, False
    scan = memo.get(_SCAN) if memo is not None else None
    if isinstance(scan, _Scan) and scan.count <= len(messages) and messages[scan.count - 1] is scan.last:
        start, compactions, files = scan.count, scan.compactions, scan.files
    for entry in itertools.islice(messages, start, None):
        compactions = compactions or is_compaction(entry)
        files = files or _reads_files(entry)
    if memo is not None and messages:
        memo[_SCAN] = _Scan(len(messages), messages[-1], compactions, files)
    return compactions, files


async def load(log: MessageLog, session_id: str, user_message_id: str) -> View:
    """The view of the run of `user_message_id`, its prompt included."""
    messages = await log.recent.tail(session_id, lambda ms: _complete(ms, user_message_id), PAGE)
    memo = log.recent.memo(session_id)
    compactions, files = _scan(messages, memo)
    selected = select(messages, user_message_id)
    prompt = next((m for m in reversed(selected) if m["info"]["id"] == user_message_id), None)
    return View(with_prompt(compacted(selected) if compactions else selected, prompt), files, memo)


async def read_files(messages: list[Entry], ctx: ToolContext) -> dict[str, FileContent]:
    """The `file://` parts of the user messages, read: part id -> content."""
    out: dict[str, FileContent] = {}
    for entry in messages:
        if entry["info"]["role"] != "user":
            continue
        for part in entry["parts"]:
            if part["type"] == "file" and part["url"].startswith("file://"):
                out[part["id"]] = await _read_file(part, replace(ctx, message_id=entry["info"]["id"]))
    return out


async def _read_file(part: dict[str, Any], ctx: ToolContext) -> FileContent:
    name = part.get("filename") or part["url"]
    path = real_path(ctx.directory, unquote(urlparse(part["url"]).path))
    try:
        await confine(ctx, path)
        data, _ = await ctx.pool.run(lambda stop: read_regular(path, MAX_INLINE_BYTES, follow=False))
    except ToolError as exc:
        return FileContent(f"[file {name} was not read: {exc.message}]")
    except OSError as exc:
        return FileContent(f"[file {name} could not be read: {exc}]")
    mime = part.get("mime") or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if is_text_mime(mime):
        return FileContent(f'<file name="{name}">\n{data.decode("utf-8", "replace")}\n</file>')
    return FileContent(
        attachment=Attachment(mime=mime, url=to_data_url(mime, data), filename=part.get("filename"))
    )


def _file_content(part: dict[str, Any], files: Files) -> FileContent:
    """A text file is inlined; anything else becomes an attachment the provider may send."""
    url, mime = part["url"], part.get("mime", "application/octet-stream")
    name = part.get("filename") or url
    if url.startswith("file://"):
        return files.get(part["id"], FileContent(f"[file {name} was not read]"))
    if url.startswith("data:") and is_text_mime(mime):
        raw = data_url_bytes(url)
        return FileContent(f'<file name="{name}">\n{raw.decode("utf-8", "replace")}\n</file>')
    return FileContent(attachment=Attachment(mime=mime, url=url, filename=part.get("filename")))


def _clip(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}\n... ({len(text) - limit} more characters not shown)"


def entry_chat(entry: Entry, files: Files = NO_FILES, clip: int | None = None) -> list[ChatMessage]:
    """One stored message as chat messages (none, one, or an assistant turn and its tool results);
    `files` holds its `file://` parts as `read_files` read them; `clip` shortens each tool output to
    that many characters."""
    info, parts = entry["info"], entry["parts"]
    if info["role"] == "user":
        if is_compaction(entry):
            return [ChatMessage(role="user", text=COMPACTION_QUESTION)]
        texts: list[str] = []
        attachments: list[Attachment] = []
        for part in parts:
            if part["type"] == "text" and not part.get("ignored"):
                texts.append(part["text"])
            elif part["type"] == "file":
                content = _file_content(part, files)
                if content.text:
                    texts.append(content.text)
                if content.attachment:
                    attachments.append(content.attachment)
            elif part["type"] == "agent":
                texts.append(f"@{part['name']}")
            elif part["type"] == "subtask":  # its task call and result follow in the next message
                texts.append("The user had a subagent carry out the task that follows.")
        if texts or attachments:
            return [ChatMessage(role="user", text="\n\n".join(texts), attachments=attachments)]
        return []
    text = "".join(p["text"] for p in parts if p["type"] == "text")
    calls: list[ToolCall] = []
    results: list[ChatMessage] = []
    shown: list[Attachment] = []  # what tools returned besides text (an MCP tool's images)
    for part in parts:
        if part["type"] != "tool":
            continue
        state = part["state"]
        if state["status"] not in ("completed", "error"):
            continue
        calls.append(ToolCall(part["callID"], part["tool"], json.dumps(state.get("input", {}))))
        failed = state["status"] == "error"
        if failed:
            output = state["error"]
        elif (state.get("time") or {}).get("compacted"):
            output = PRUNED_OUTPUT  # its attachments go with it
        else:
            output = _clip(state["output"], clip)
            for file in state.get("attachments") or []:
                shown.append(Attachment(mime=file["mime"], url=file["url"], filename=file.get("filename")))
        results.append(ChatMessage(role="tool", text=output, tool_call_id=part["callID"], is_error=failed))
    if not (text or calls):
        return []
    chat = [ChatMessage(role="assistant", text=text, tool_calls=calls), *results]
    if shown:  # tool results carry text only: the files follow them, as the user's
        chat.append(ChatMessage(role="user", attachments=shown))
    return chat


Converted = tuple[list[ChatMessage], int]  # an entry's chat messages, and their estimated tokens
Derive = Callable[[Entry, Callable[[Entry], Converted]], Converted]


def converted(entry: Entry) -> Converted:
    """`entry` as chat messages, and their estimated tokens, when it holds no `file://` part."""
    chat = entry_chat(entry)
    return chat, sum(message_tokens(m) for m in chat)


def _reads_files(entry: Entry) -> bool:
    return entry["info"]["role"] == "user" and any(
        p["type"] == "file" and p["url"].startswith("file://") for p in entry["parts"]
    )


def to_chat(messages: list[Entry], files: Files = NO_FILES, clip: int | None = None) -> list[ChatMessage]:
    return [m for entry in messages for m in entry_chat(entry, files, clip)]


class Conversation:
    """The view a run shows the model, kept in step with the run: each stored message is turned
    into chat messages and estimated once, so that a step costs the same however long the run.
    `derive(entry, converted)` may answer from what an earlier run converted (the log's `recent`
    messages); an entry with `file://` parts is always converted here, with this run's `files`.
    A `base` (an earlier run's Conversation of the same session) lends the entries this one begins
    with, the very same objects, up to the first with `file://` parts."""

    def __init__(
        self,
        entries: list[Entry],
        files: Files = NO_FILES,
        derive: Derive | None = None,
        base: Conversation | None = None,
    ) -> None:
        self.files = files
        self._derive = derive
        self.entries: list[Entry] = []
        self._chat: list[ChatMessage] = []
        self._ends: list[int] = []  # per entry: where its chat messages end in `_chat`
        self._lent = 0  # the first entries, before any with `file://` parts: what a later run may reuse
        self.sizes: list[int] = []  # estimated tokens per entry
        self.tokens = 0
        self.replace(entries, base)

    def append(self, entry: Entry) -> None:
        reads = _reads_files(entry)
        if self._derive is not None and not reads:
            chat, size = self._derive(entry, converted)
        else:
            chat = entry_chat(entry, self.files)
            size = sum(message_tokens(m) for m in chat)
        if not reads and self._lent == len(self.entries):
            self._lent += 1
        self.entries.append(entry)
        self._chat.extend(chat)
        self._ends.append(len(self._chat))
        self.sizes.append(size)
        self.tokens += size

    def replace(self, entries: list[Entry], base: Conversation | None = None) -> None:
        same = 0
        if base is not None:
            lent, old = min(base._lent, len(entries)), base.entries
            if all(map(operator.is_, itertools.islice(old, lent), entries)):
                same = lent  # the usual case, checked without a Python step per entry
            else:
                while same < lent and old[same] is entries[same]:
                    same += 1
        if same:
            assert base is not None
            self.entries, self.sizes, self._ends = old[:same], base.sizes[:same], base._ends[:same]
            self._chat, self._lent = base._chat[: self._ends[-1]], same
            self.tokens = sum(self.sizes)
        else:
            self.entries, self._chat, self._ends, self.sizes, self._lent, self.tokens = [], [], [], [], 0, 0
        for entry in itertools.islice(entries, same, None):
            self.append(entry)

    def chat(self) -> list[ChatMessage]:
        """The chat messages, as a new list (a request keeps what it was sent)."""
        return list(self._chat)
