"""The tool listings of `GET /experimental/tool` and `/experimental/tool/ids`."""

from __future__ import annotations

from typing import Any

from wakeful.wire.base import Wire


class ToolListItem(Wire):
    id: str
    description: str
    parameters: dict[str, Any]  # the JSON schema of the arguments, as the model sees it
