"""Permissions on the wire: rules, the requests a run waits on, and the bodies that answer them.

Shaped like the reference's `PermissionRule`, `PermissionRequest` and the bodies of
`POST /permission/{requestID}/reply` and the older `POST /session/{id}/permissions/{permissionID}`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from wakeful.wire.base import Wire

Action = Literal["allow", "deny", "ask"]
Reply = Literal["once", "always", "reject"]


class PermissionRule(Wire):
    """One rule of a ruleset: the last rule whose `permission` and `pattern` both match decides."""

    permission: str
    pattern: str
    action: Action


class PermissionToolRef(Wire):
    """The tool call that waits: its assistant message and call id."""

    messageID: str
    callID: str


class PermissionRequest(Wire):
    """A question a run waits on. `patterns` are what this call needs; `always` are the patterns an
    `always` reply allows for the rest of the session."""

    id: str = Field(pattern=r"^per")
    sessionID: str = Field(pattern=r"^ses")
    permission: str
    patterns: list[str]
    metadata: dict[str, Any]
    always: list[str]
    tool: PermissionToolRef | None = None


class PermissionReplyBody(Wire):
    """`POST /permission/{requestID}/reply`. A `reject` with a `message` passes it to the model."""

    reply: Reply
    message: str | None = None


class PermissionRespondBody(Wire):
    """`POST /session/{sessionID}/permissions/{permissionID}` (deprecated in the reference)."""

    response: Reply


class PermissionReplied(Wire):
    """The properties of a `permission.replied` event."""

    sessionID: str
    requestID: str
    reply: Reply
