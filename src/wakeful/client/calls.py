"""Every API call as a plan (see `core`): the request it sends, whether it may be repeated, and how
its answer is read. `Client` and `AsyncClient` expose these one-to-one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from wakeful import ids
from wakeful.client import core
from wakeful.client.core import KEEPALIVE_HEADER, Answer, KeepAliveCallback, Plan, Send, Settings, exchange
from wakeful.client.models import Reply
from wakeful.wire.sessions import Session

Parts = list[dict[str, Any]]
T = TypeVar("T")


def model_ref(model: str | None) -> dict[str, str] | None:
    """`provider/model` (the first `/` separates them) as the prompt body's `model`."""
    if model is None:
        return None
    provider, slash, model_id = model.partition("/")
    if not slash or not provider or not model_id:
        raise ValueError(f"model must look like provider/model, not {model!r}")
    return {"providerID": provider, "modelID": model_id}


def prompt_parts(text: str | None, parts: Parts | None) -> Parts:
    out: Parts = [{"type": "text", "text": text}] if text is not None else []
    out += parts or []
    if not out:
        raise ValueError("a prompt needs text or parts")
    return out


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


class Calls:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _plan(self, send: Send, parse: Callable[[Answer], T]) -> Plan[T]:
        return exchange(self.settings, send, parse)

    def _long(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        message_id: str | None = None,
        on_keepalive: KeepAliveCallback | None,
        deadline: float | None,
        run_deadline: float | None = None,
    ) -> Send:
        headers = {}
        if self.settings.keepalive_interval is not None:
            headers[KEEPALIVE_HEADER] = f"{self.settings.keepalive_interval:g}"
        return Send(
            method,
            path,
            params=_clean({"deadline": run_deadline}) or None,
            json=body,
            headers=headers,
            long=True,
            idempotent=True,  # prompts carry their messageID; the waits change nothing
            on_keepalive=on_keepalive,
            deadline=None if deadline is None else time.monotonic() + deadline,
            message_id=message_id,
        )

    # --- sessions -----------------------------------------------------------------------------

    def create_session(
        self,
        *,
        title: str | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Plan[Session]:
        body = _clean({"title": title, "parentID": parent_id, "metadata": metadata})
        # Not idempotent: a broken answer may hide a session that was created; retried only when
        # the request provably never left.
        return self._plan(Send("POST", "/session", json=body, idempotent=False), core.session_of)

    def list_sessions(
        self, *, limit: int | None = None, search: str | None = None, roots: bool | None = None
    ) -> Plan[list[Session]]:
        params = _clean(
            {"limit": limit, "search": search, "roots": None if roots is None else str(roots).lower()}
        )
        return self._plan(Send("GET", "/session", params=params), core.sessions_of)

    def get_session(self, session_id: str) -> Plan[Session]:
        return self._plan(Send("GET", f"/session/{session_id}"), core.session_of)

    def update_session(
        self, session_id: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Plan[Session]:
        body = _clean({"title": title, "metadata": metadata})
        return self._plan(Send("PATCH", f"/session/{session_id}", json=body), core.session_of)

    def delete_session(self, session_id: str) -> Plan[bool]:
        send = Send("DELETE", f"/session/{session_id}", idempotent=False)  # a repeat would answer 404
        return self._plan(send, core.flag_of)

    # --- messages -----------------------------------------------------------------------------

    def messages(self, session_id: str, *, limit: int | None = None) -> Plan[list[Reply]]:
        params = _clean({"limit": limit})
        return self._plan(Send("GET", f"/session/{session_id}/message", params=params), core.messages_of)

    def message(self, session_id: str, message_id: str) -> Plan[Reply]:
        return self._plan(Send("GET", f"/session/{session_id}/message/{message_id}"), core.message_of)

    # --- runs ---------------------------------------------------------------------------------

    @staticmethod
    def prompt_body(
        text: str | None,
        *,
        parts: Parts | None = None,
        message_id: str | None = None,
        agent: str | None = None,
        model: str | None = None,
        system: str | None = None,
        tools: dict[str, bool] | None = None,
        no_reply: bool | None = None,
        variant: str | None = None,
    ) -> dict[str, Any]:
        return _clean(
            {
                "messageID": message_id or ids.message_id(),
                "parts": prompt_parts(text, parts),
                "agent": agent,
                "model": model_ref(model),
                "system": system,
                "tools": tools,
                "noReply": no_reply,
                "variant": variant,
            }
        )

    def prompt(
        self,
        session_id: str,
        body: dict[str, Any],
        *,
        on_keepalive: KeepAliveCallback | None,
        deadline: float | None,
        run_deadline: float | None,
    ) -> Plan[Reply]:
        send = self._long(
            "POST",
            f"/session/{session_id}/message",
            body=body,
            message_id=body["messageID"],
            on_keepalive=on_keepalive,
            deadline=deadline,
            run_deadline=run_deadline,
        )
        return self._plan(send, core.reply_of)

    def prompt_async(self, session_id: str, body: dict[str, Any], *, run_deadline: float | None) -> Plan[str]:
        params = _clean({"deadline": run_deadline}) or None
        send = Send(
            "POST",
            f"/session/{session_id}/prompt_async",
            params=params,
            json=body,
            message_id=body["messageID"],
        )
        return self._plan(send, core.message_id_of)

    def command(
        self,
        session_id: str,
        command: str,
        arguments: str,
        *,
        message_id: str | None,
        agent: str | None,
        model: str | None,
        parts: Parts | None,
        on_keepalive: KeepAliveCallback | None,
        deadline: float | None,
        run_deadline: float | None,
    ) -> Plan[Reply]:
        if model is not None:
            model_ref(model)  # refuse a malformed model here, not after a round trip
        body = _clean(
            {
                "messageID": message_id or ids.message_id(),
                "command": command,
                "arguments": arguments,
                "agent": agent,
                "model": model,
                "parts": parts,
            }
        )
        send = self._long(
            "POST",
            f"/session/{session_id}/command",
            body=body,
            message_id=body["messageID"],
            on_keepalive=on_keepalive,
            deadline=deadline,
            run_deadline=run_deadline,
        )
        return self._plan(send, core.reply_of)

    def shell(
        self,
        session_id: str,
        command: str,
        *,
        agent: str,
        model: str | None,
        message_id: str | None,
        on_keepalive: KeepAliveCallback | None,
        deadline: float | None,
        run_deadline: float | None,
    ) -> Plan[Reply]:
        body = _clean(
            {
                "messageID": message_id or ids.message_id(),
                "command": command,
                "agent": agent,
                "model": model_ref(model),
            }
        )
        send = self._long(
            "POST",
            f"/session/{session_id}/shell",
            body=body,
            message_id=body["messageID"],
            on_keepalive=on_keepalive,
            deadline=deadline,
            run_deadline=run_deadline,
        )
        return self._plan(send, core.reply_of)

    def abort(self, session_id: str) -> Plan[bool]:
        return self._plan(Send("POST", f"/session/{session_id}/abort"), core.flag_of)

    def reply(
        self,
        session_id: str,
        message_id: str,
        *,
        on_keepalive: KeepAliveCallback | None,
        deadline: float | None,
    ) -> Plan[Reply]:
        send = self._long(
            "GET",
            f"/session/{session_id}/message/{message_id}/reply",
            message_id=message_id,
            on_keepalive=on_keepalive,
            deadline=deadline,
        )
        return self._plan(send, core.reply_of)

    def wait(
        self, session_id: str, *, on_keepalive: KeepAliveCallback | None, deadline: float | None
    ) -> Plan[Session]:
        send = self._long("GET", f"/session/{session_id}/wait", on_keepalive=on_keepalive, deadline=deadline)
        return self._plan(send, lambda answer: Session.model_validate(core.held(answer)))
