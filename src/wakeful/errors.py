"""The one error hierarchy of wakeful.

::

    WakefulError
    ├── RequestError                 refused before any byte of a response; mapped to a status
    │   ├── InvalidRequestError      400 {"_tag":"InvalidRequestError","message","field"}
    │   ├── UnauthorizedError        401 {"_tag":"UnauthorizedError","message"}
    │   ├── NotFoundError            404 {"name":"NotFoundError","data":{"message"}}
    │   ├── SessionBusyError         409 {"_tag":"SessionBusyError","sessionID","message"}
    │   ├── ConflictError            409 {"_tag":"ConflictError","message","resource"}
    │   └── ServiceUnavailableError  503 {"_tag":"ServiceUnavailableError","message"} + Retry-After
    ├── RunError                     ends a run; stored as AssistantMessage.info.error {"name","data"}
    │   ├── MessageAbortedError
    │   ├── UnknownRunError          name "UnknownError"
    │   ├── ProviderAuthError
    │   ├── APIError                 provider answered badly or the transport broke (maybe retryable)
    │   └── MessageOutputLengthError
    ├── ToolError                    a tool failed; becomes a tool part in state "error", the run goes on
    └── StartupError                 the server cannot start (data directory locked, unsafe bind, ...)

`wakeful.server.errors` is the one place that turns a RequestError into an HTTP response; a
RunError never becomes a status code, because it happens after the run was accepted.
"""

from __future__ import annotations

from typing import Any


class WakefulError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- refused requests -------------------------------------------------------------------------


class RequestError(WakefulError):
    status: int = 400

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequestError(RequestError):
    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"_tag": "InvalidRequestError", "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class UnauthorizedError(RequestError):
    status = 401

    def body(self) -> dict[str, Any]:
        return {"_tag": "UnauthorizedError", "message": self.message}

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="wakeful", charset="UTF-8"'}


class NotFoundError(RequestError):
    status = 404

    def body(self) -> dict[str, Any]:
        return {"name": "NotFoundError", "data": {"message": self.message}}


class SessionBusyError(RequestError):
    status = 409

    def __init__(self, session_id: str, message: str | None = None) -> None:
        super().__init__(message or f"Session {session_id} is busy")
        self.session_id = session_id

    def body(self) -> dict[str, Any]:
        return {"_tag": "SessionBusyError", "sessionID": self.session_id, "message": self.message}


class ConflictError(RequestError):
    status = 409

    def __init__(self, message: str, resource: str | None = None) -> None:
        super().__init__(message)
        self.resource = resource

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"_tag": "ConflictError", "message": self.message}
        if self.resource:
            out["resource"] = self.resource
        return out


class ServiceUnavailableError(RequestError):
    status = 503

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {"_tag": "ServiceUnavailableError", "message": self.message, "service": "wakeful"}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


# --- errors that end a run --------------------------------------------------------------------


class RunError(WakefulError):
    name: str = "UnknownError"

    def data(self) -> dict[str, Any]:
        return {"message": self.message}

    def to_info(self) -> dict[str, Any]:
        return {"name": self.name, "data": self.data()}


class MessageAbortedError(RunError):
    name = "MessageAbortedError"

    def __init__(self, message: str = "Aborted") -> None:
        super().__init__(message)


class UnknownRunError(RunError):
    name = "UnknownError"


class MessageOutputLengthError(RunError):
    name = "MessageOutputLengthError"

    def __init__(self, message: str = "The model stopped at its output length limit") -> None:
        super().__init__(message)

    def data(self) -> dict[str, Any]:
        return {}


class ProviderAuthError(RunError):
    name = "ProviderAuthError"

    def __init__(self, provider_id: str, message: str) -> None:
        super().__init__(message)
        self.provider_id = provider_id

    def data(self) -> dict[str, Any]:
        return {"providerID": self.provider_id, "message": self.message}


class APIError(RunError):
    """A provider call failed. `retryable` drives the run loop's retries."""

    name = "APIError"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retryable: bool = False,
        response_headers: dict[str, str] | None = None,
        response_body: str | None = None,
        metadata: dict[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable
        self.response_headers = response_headers
        self.response_body = response_body
        self.metadata = metadata
        self.retry_after = retry_after

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "isRetryable": self.retryable}
        if self.status_code is not None:
            out["statusCode"] = self.status_code
        if self.response_headers is not None:
            out["responseHeaders"] = self.response_headers
        if self.response_body is not None:
            out["responseBody"] = self.response_body
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


# --- the rest ---------------------------------------------------------------------------------


class ToolError(WakefulError):
    """A tool could not do what it was asked; the model sees the message and the run goes on."""


class StartupError(WakefulError):
    """The server refuses to start; the message says why and what to do."""


class ProviderSilenceError(APIError):
    """The provider sent nothing for the silence limit; retryable, and the final failure of a run is
    stored as an UnknownError that says why (a keep-alive must not hide a hung provider)."""

    def __init__(self, seconds: float, **kwargs: Any) -> None:
        super().__init__(f"provider sent nothing for {seconds:g} s", retryable=True, **kwargs)
        self.seconds = seconds
