"""What the model sees of a session: stored messages turned into a neutral conversation.

A run's history is every user message up to and including its own (by insertion order) and the
assistant messages answering those; a prompt queued behind the run is therefore never part of it.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from wakeful.providers.base import (
    Attachment,
    ChatMessage,
    ToolCall,
    data_url_bytes,
    is_text_mime,
    to_data_url,
)

MAX_INLINE_BYTES = 256 * 1024


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


def _file_content(part: dict[str, Any]) -> tuple[str | None, Attachment | None]:
    """A text file is inlined; anything else becomes an attachment the provider may send."""
    url, mime = part["url"], part.get("mime", "application/octet-stream")
    name = part.get("filename") or url
    if url.startswith("file://"):
        path = Path(unquote(urlparse(url).path))
        try:
            data = path.read_bytes()[:MAX_INLINE_BYTES]
        except OSError as exc:
            return f"[file {name} could not be read: {exc}]", None
        mime = mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if is_text_mime(mime):
            return f'<file name="{name}">\n{data.decode("utf-8", "replace")}\n</file>', None
        url = to_data_url(mime, data)
    elif url.startswith("data:") and is_text_mime(mime):
        raw = data_url_bytes(url)
        return f'<file name="{name}">\n{raw.decode("utf-8", "replace")}\n</file>', None
    return None, Attachment(mime=mime, url=url, filename=part.get("filename"))


def to_chat(messages: list[dict[str, Any]]) -> list[ChatMessage]:
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
                    text, attachment = _file_content(part)
                    if text:
                        texts.append(text)
                    if attachment:
                        attachments.append(attachment)
                elif part["type"] == "agent":
                    texts.append(f"@{part['name']}")
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
