"""The route class of every router: answers serialised the way `Wire.wire()` serialises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute


class WireRoute(APIRoute):
    """A route whose response model is dumped without the fields that are None (and, FastAPI's
    default, by alias), like every wire model, so that no route repeats `response_model_exclude_none`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_none"] = True
        super().__init__(path, endpoint, **kwargs)
