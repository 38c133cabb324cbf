"""The one error hierarchy of wakeful.

::

    WakefulError
    ├── RequestError                 refused before any byte of a response; mapped to a status
    │   ├── InvalidRequestError      400 {"_tag":"InvalidRequestError","message","field"}
    │   │   ├── RequestTimeoutError  408, the same body (answered by the HTTP protocol itself)
    │   │   ├── PayloadTooLargeError 413, the same body
    │   │   └── HeadersTooLargeError 431, the same body (answered by the HTTP protocol itself)
    │   ├── UnauthorizedError        401 {"_tag":"UnauthorizedError","message"}
    │   ├── NotFoundError            404 {"name":"NotFoundError","data":{"message"}}
    │   ├── PermissionNotFoundError  404 {"_tag":"PermissionNotFoundError","requestID","message"}
    │   ├── McpServerNotFoundError   404 {"_tag":"McpServerNotFoundError","name","message"}
    │   ├── MethodNotAllowedError    405 {"_tag":"MethodNotAllowedError","message"}
    │   ├── SessionBusyError         409 {"_tag":"SessionBusyError","sessionID","message"}
    │   ├── ConflictError            409 {"_tag":"ConflictError","message","resource"}
    │   ├── ServiceUnavailableError  503 {"_tag":"ServiceUnavailableError","message"} + Retry-After
    │   └── UnknownError             500 {"_tag":"UnknownError","message"}: a failure nobody foresaw
    ├── RunError                     ends a run; stored as AssistantMessage.info.error {"name","data"}
    │   ├── MessageAbortedError
    │   ├── UnknownRunError          name "UnknownError"
    │   ├── ProviderAuthError
    │   ├── APIError                 provider answered badly or the transport broke (maybe retryable)
    │   │   ├── ProviderUnreachableError   the connection was refused: retried within a short budget
    │   │   └── ProviderSilenceError       the provider said nothing for too long
    │   ├── ContextOverflowError     the request did not fit the model's context window
    │   ├── StructuredOutputError    the answer never matched the prompt's json_schema
    │   └── MessageOutputLengthError
    ├── ToolError                    a tool failed; becomes a tool part in state "error", the run goes on
    └── StartupError                 the server cannot start (data directory locked, unsafe bind, ...)

Each RequestError renders its body through a pydantic model (`body_model`), the same model that
documents it in `GET /doc`, so the documented shape and the bytes sent cannot drift apart.
`wakeful.server.errors` is the one place that turns a RequestError into an HTTP response; a
RunError never becomes a status code, because it happens after the run was accepted.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


class WakefulError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- the bodies of refused requests -----------------------------------------------------------


def _is_none(value: object) -> bool:
    return value is None


# Sent only when set; documented as a plain string, not as "string or null".
OmittedWhenNone = Annotated[str | SkipJsonSchema[None], Field(exclude_if=_is_none)]


class ErrorBody(BaseModel):
    """A refusal's JSON body. Every field that is always sent (the tag included) is documented as
    required; the others are left out when unset."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )

    def render(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class TaggedBody(ErrorBody):
    """The `{"_tag", "message"}` form of the reference's newer errors."""

    tag: str = Field(alias="_tag")
    message: str


class InvalidRequestBody(TaggedBody):
    """Bad request: nothing was changed. `field` names the offending input when one is known."""

    tag: Literal["InvalidRequestError"] = Field(default="InvalidRequestError", alias="_tag")
    field: OmittedWhenNone = None


class UnauthorizedBody(TaggedBody):
    """HTTP Basic auth failed (only when a password is set)."""

    tag: Literal["UnauthorizedError"] = Field(default="UnauthorizedError", alias="_tag")


class NotFoundData(ErrorBody):
    message: str


class NotFoundBody(ErrorBody):
    """No such session, message or route."""

    name: Literal["NotFoundError"] = "NotFoundError"
    data: NotFoundData


class PermissionNotFoundBody(TaggedBody):
    """No pending permission request has this id (it was answered, timed out, or never existed)."""

    tag: Literal["PermissionNotFoundError"] = Field(default="PermissionNotFoundError", alias="_tag")
    requestID: str


class McpServerNotFoundBody(TaggedBody):
    """The project has no MCP server of this name (in its config or added by `POST /mcp`)."""

    tag: Literal["McpServerNotFoundError"] = Field(default="McpServerNotFoundError", alias="_tag")
    name: str


class MethodNotAllowedBody(TaggedBody):
    """The path exists, but not with this method; the `Allow` header lists the methods it has."""

    tag: Literal["MethodNotAllowedError"] = Field(default="MethodNotAllowedError", alias="_tag")


class SessionBusyBody(ErrorBody):
    """The session is running something, and this call needs it idle (shell, message deletion)."""

    tag: Literal["SessionBusyError"] = Field(default="SessionBusyError", alias="_tag")
    sessionID: str
    message: str


class ConflictBody(TaggedBody):
    """wakeful's addition: a messageID reused with a different request (`resource` is that id)."""

    tag: Literal["ConflictError"] = Field(default="ConflictError", alias="_tag")
    resource: OmittedWhenNone = None


class ServiceUnavailableBody(TaggedBody):
    """The server is draining for shutdown; retry after `Retry-After` seconds."""

    tag: Literal["ServiceUnavailableError"] = Field(default="ServiceUnavailableError", alias="_tag")
    service: str = "wakeful"


class UnknownErrorBody(TaggedBody):
    """An unexpected server error (the reference's `UnknownError1`, the form of its v2 routes)."""

    tag: Literal["UnknownError"] = Field(default="UnknownError", alias="_tag")


# --- refused requests -------------------------------------------------------------------------


class RequestError(WakefulError):
    status: ClassVar[int] = 400
    body_model: ClassVar[type[ErrorBody]]

    def body(self) -> ErrorBody:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequestError(RequestError):
    status = 400
    body_model = InvalidRequestBody

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def body(self) -> InvalidRequestBody:
        return InvalidRequestBody(message=self.message, field=self.field or None)


class PayloadTooLargeError(InvalidRequestError):
    """413: the request body is over the server's limit; the body is an invalid request's."""

    status = 413


class RequestTimeoutError(InvalidRequestError):
    """408: the client did not send its request's head in time; the body is an invalid request's."""

    status = 408


class HeadersTooLargeError(InvalidRequestError):
    """431: the request line and headers are over the server's limit; an invalid request's body."""

    status = 431


class UnauthorizedError(RequestError):
    status = 401
    body_model = UnauthorizedBody

    def body(self) -> UnauthorizedBody:
        return UnauthorizedBody(message=self.message)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="wakeful", charset="UTF-8"'}


class NotFoundError(RequestError):
    status = 404
    body_model = NotFoundBody

    def body(self) -> NotFoundBody:
        return NotFoundBody(data=NotFoundData(message=self.message))


class PermissionNotFoundError(RequestError):
    status = 404
    body_model = PermissionNotFoundBody

    def __init__(self, request_id: str) -> None:
        super().__init__(f"No pending permission request {request_id}")
        self.request_id = request_id

    def body(self) -> PermissionNotFoundBody:
        return PermissionNotFoundBody(message=self.message, requestID=self.request_id)


class McpServerNotFoundError(RequestError):
    status = 404
    body_model = McpServerNotFoundBody

    def __init__(self, name: str) -> None:
        super().__init__(f"MCP server not found: {name}")
        self.name = name

    def body(self) -> McpServerNotFoundBody:
        return McpServerNotFoundBody(message=self.message, name=self.name)


class MethodNotAllowedError(RequestError):
    status = 405
    body_model = MethodNotAllowedBody

    def body(self) -> MethodNotAllowedBody:
        return MethodNotAllowedBody(message=self.message)


class SessionBusyError(RequestError):
    status = 409
    body_model = SessionBusyBody

    def __init__(self, session_id: str, message: str | None = None) -> None:
        super().__init__(message or f"Session {session_id} is busy")
        self.session_id = session_id

    def body(self) -> SessionBusyBody:
        return SessionBusyBody(sessionID=self.session_id, message=self.message)


class ConflictError(RequestError):
    status = 409
    body_model = ConflictBody

    def __init__(self, message: str, resource: str | None = None) -> None:
        super().__init__(message)
        self.resource = resource

    def body(self) -> ConflictBody:
        return ConflictBody(message=self.message, resource=self.resource or None)


class ServiceUnavailableError(RequestError):
    status = 503
    body_model = ServiceUnavailableBody

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def body(self) -> ServiceUnavailableBody:
        return ServiceUnavailableBody(message=self.message)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UnknownError(RequestError):
    """Nothing raises it: the server answers it for an exception that no other class describes."""

    status = 500
    body_model = UnknownErrorBody

    def body(self) -> UnknownErrorBody:
        return UnknownErrorBody(message=self.message)


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
        given = {
            "statusCode": self.status_code,
            "responseHeaders": self.response_headers,
            "responseBody": self.response_body,
            "metadata": self.metadata,
        }
        return {
            "message": self.message,
            "isRetryable": self.retryable,
            **{k: v for k, v in given.items() if v is not None},
        }


class ContextOverflowError(RunError):
    """The request did not fit the model's context window: the provider said so, or compaction could
    not make it fit. The loop compacts once and retries before it lets this end a run."""

    name = "ContextOverflowError"

    def __init__(self, message: str, *, response_body: str | None = None) -> None:
        super().__init__(message)
        self.response_body = response_body

    def data(self) -> dict[str, Any]:
        if self.response_body is None:
            return {"message": self.message}
        return {"message": self.message, "responseBody": self.response_body}


class StructuredOutputError(RunError):
    """A `json_schema` prompt whose answer never validated; `retries` is how many corrections the
    model was given."""

    name = "StructuredOutputError"

    def __init__(self, message: str, retries: int) -> None:
        super().__init__(message)
        self.retries = retries

    def data(self) -> dict[str, Any]:
        return {"message": self.message, "retries": self.retries}


# --- the rest ---------------------------------------------------------------------------------


class ToolError(WakefulError):
    """A tool could not do what it was asked; the model sees the message and the run goes on."""


class StartupError(WakefulError):
    """The server refuses to start; the message says why and what to do."""


class ProviderUnreachableError(APIError):
    """The provider's address could not be reached (connection refused, no route, unknown host):
    retryable, but only within `refused_retry_budget` seconds, since a provider that is down or
    misconfigured rarely comes back within a run's full backoff."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, retryable=True, **kwargs)


class ProviderSilenceError(APIError):
    """The provider sent nothing for the silence limit; retryable, and the final failure of a run is
    stored as an UnknownError that says why (a keep-alive must not hide a hung provider)."""

    def __init__(self, seconds: float, **kwargs: Any) -> None:
        super().__init__(f"provider sent nothing for {seconds:g} s", retryable=True, **kwargs)
        self.seconds = seconds
