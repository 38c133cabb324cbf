"""What the model sees of a session: stored messages turned into a neutral conversation.

A run's history is every user message up to and including its own (by insertion order) and the
assistant messages answering those; a prompt queued behind the run is therefore never part of it.

`file://` parts are read once per run (`read_files`), not at every step and never on the event
loop: each path is resolved and confined like a tool's (leaving the project asks
`external_directory`), then read in the tool pool, non-blocking and only if it is a regular file, at
most MAX_INLINE_BYTES. A part that cannot be read, or may not be, reaches the model as a note
saying why.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, replace
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
from wakeful.tools.base import ToolContext
from wakeful.tools.paths import confine, real_path

MAX_INLINE_BYTES = 256 * 1024


@dataclass(frozen=True)
class FileContent:
    """A `file://` part as this run read it: text to inline, or an attachment."""

    text: str | None = None
    attachment: Attachment | None = None


def select(messages: list[dict[str, Any]], user_message_id: str) -> list[dict[str, Any]]:
    included: set[str] = set()
    for entry in messages:
        info = entry["info"]
        if info["role"] == "user":
            included.add(info["id"])
            if info["id"] == user_message_id:
                break
    return [
        m
        for m in messages
        if (m["info"]["role"] == "user" and m["info"]["id"] in included)
        or (m["info"]["role"] == "assistant" and m["info"].get("parentID") in included)
    ]


async def read_files(messages: list[dict[str, Any]], ctx: ToolContext) -> dict[str, FileContent]:
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


def _file_content(part: dict[str, Any], files: Mapping[str, FileContent]) -> FileContent:
    """A text file is inlined; anything else becomes an attachment the provider may send."""
    url, mime = part["url"], part.get("mime", "application/octet-stream")
    name = part.get("filename") or url
    if url.startswith("file://"):
        return files.get(part["id"], FileContent(f"[file {name} was not read]"))
    if url.startswith("data:") and is_text_mime(mime):
        raw = data_url_bytes(url)
        return FileContent(f'<file name="{name}">\n{raw.decode("utf-8", "replace")}\n</file>')
    return FileContent(attachment=Attachment(mime=mime, url=url, filename=part.get("filename")))


def to_chat(
    messages: list[dict[str, Any]], files: Mapping[str, FileContent] | None = None
) -> list[ChatMessage]:
    """The conversation; `files` holds the `file://` parts as `read_files` read them."""
    chat: list[ChatMessage] = []
    for entry in messages:
        info, parts = entry["info"], entry["parts"]
        if info["role"] == "user":
            texts: list[str] = []
            attachments: list[Attachment] = []
            for part in parts:
                if part["type"] == "text" and not part.get("ignored"):
                    texts.append(part["text"])
                elif part["type"] == "file":
                    content = _file_content(part, files or {})
                    if content.text:
                        texts.append(content.text)
                    if content.attachment:
                        attachments.append(content.attachment)
                elif part["type"] == "agent":
                    texts.append(f"@{part['name']}")
                elif part["type"] == "subtask":  # its task call and result follow in the next message
                    texts.append("The user had a subagent carry out the task that follows.")
            if texts or attachments:
                chat.append(ChatMessage(role="user", text="\n\n".join(texts), attachments=attachments))
            continue
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        calls: list[ToolCall] = []
        results: list[ChatMessage] = []
        for part in parts:
            if part["type"] != "tool":
                continue
            state = part["state"]
            if state["status"] not in ("completed", "error"):
                continue
            calls.append(ToolCall(part["callID"], part["tool"], json.dumps(state.get("input", {}))))
            failed = state["status"] == "error"
            output = state["error"] if failed else state["output"]
            results.append(
                ChatMessage(role="tool", text=output, tool_call_id=part["callID"], is_error=failed)
            )
        if text or calls:
            chat.append(ChatMessage(role="assistant", text=text, tool_calls=calls))
            chat.extend(results)
    return chat
