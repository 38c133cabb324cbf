"""The client's exceptions, and the one function that maps a refused request to them.

::

    ClientError
    ├── Refused                  the server answered a status other than 2xx before doing anything
    │   ├── BadRequest           400 InvalidRequestError
    │   ├── Unauthorized         401
    │   ├── NotFound             404
    │   ├── SessionBusy          409 SessionBusyError
    │   ├── Conflict             409 ConflictError (a messageID reused with a different body)
    │   └── ServiceUnavailable   503 (the server is shutting down); `retry_after` seconds
    ├── RunFailed                the run was accepted and ended with `info.error`; carries the reply
    ├── ServerError              the in-body error object (`{"name":"UnknownError",...}`) or a 5xx
    ├── ConnectionLost           the connection kept breaking after every retry
    └── DeadlineExceeded         the caller's overall deadline passed (the run may still be going)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wakeful.client.models import Reply


class ClientError(Exception):
    pass


class Refused(ClientError):
    def __init__(self, status: int, body: Any, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body
        self.message = message


class BadRequest(Refused):
    @property
    def field(self) -> str | None:
        return _text(self.body, "field")


class Unauthorized(Refused):
    pass


class NotFound(Refused):
    pass


class SessionBusy(Refused):
    @property
    def session_id(self) -> str | None:
        return _text(self.body, "sessionID")


class Conflict(Refused):
    pass


class ServiceUnavailable(Refused):
    def __init__(self, status: int, body: Any, message: str, retry_after: float | None) -> None:
        super().__init__(status, body, message)
        self.retry_after = retry_after


class RunFailed(ClientError):
    """The run ended with `info.error`; `reply` is the stored answer (what was done until then)."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.error: dict[str, Any] = dict(reply.error or {})
        self.name: str = str(self.error.get("name", "UnknownError"))
        data = self.error.get("data")
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        super().__init__(f"{self.name}: {self.data.get('message', '')}".rstrip(": "))

    @property
    def message_id(self) -> str:
        return self.reply.info.id


class ServerError(ClientError):
    """The server failed after it accepted the call (the body is an error object), or answered 5xx."""

    def __init__(self, body: Any, status: int = 200) -> None:
        self.body = body
        self.status = status
        super().__init__(_message(body) or f"server error (status {status})")

    @property
    def name(self) -> str:
        return _text(self.body, "name") or _text(self.body, "_tag") or "UnknownError"


class _Unanswered(ClientError):
    """The call got no answer. For a prompt, `message_id` names the run: it may still be going, and
    `reply(session_id, message_id)` picks its answer up later."""

    def __init__(self, message: str, message_id: str | None = None) -> None:
        super().__init__(message)
        self.message_id = message_id


class ConnectionLost(_Unanswered):
    """No answer after every retry."""


class DeadlineExceeded(_Unanswered, TimeoutError):
    """The caller's deadline passed. The run is not stopped (use `abort`, or `run_deadline`)."""


def _text(body: Any, key: str) -> str | None:
    """The string `body[key]` of a JSON object body (None for anything else)."""
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _message(body: Any) -> str:
    if not isinstance(body, dict):
        return str(body) if body else ""
    data = body.get("data")
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return str(body.get("message") or "")


def refused(status: int, body: Any, retry_after: str | None = None) -> ClientError:
    """The exception for a non-2xx answer (`body` is the parsed JSON, or the text)."""
    message = _message(body) or f"HTTP {status}"
    tag = _text(body, "_tag")
    if status == 404:
        return NotFound(status, body, message)
    if status == 401:
        return Unauthorized(status, body, message)
    if status == 409:
        return (
            SessionBusy(status, body, message)
            if tag == "SessionBusyError"
            else Conflict(status, body, message)
        )
    if status == 503:
        return ServiceUnavailable(status, body, message, _seconds(retry_after))
    if status >= 500:
        return ServerError(body, status)
    if status == 400:
        return BadRequest(status, body, message)
    return Refused(status, body, message)


def _seconds(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None  # an HTTP date: treated as "no hint"
