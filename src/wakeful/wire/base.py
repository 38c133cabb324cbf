"""The base of every wire model: field names are the JSON names, unknown fields are refused."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from wakeful import ids

Number = int | float  # ints stay ints on the wire, like the reference's

# An id the client chooses or names, in the grammar of `wakeful.ids.pattern`.
SessionIDText = Annotated[str, StringConstraints(pattern=ids.pattern("ses"))]
MessageIDText = Annotated[str, StringConstraints(pattern=ids.pattern("msg"))]
PartIDText = Annotated[str, StringConstraints(pattern=ids.pattern("prt"))]
WorkspaceIDText = Annotated[str, StringConstraints(pattern=ids.pattern("wrk"))]


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)
