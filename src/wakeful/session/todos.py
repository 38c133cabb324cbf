"""A session's todo list (the `todowrite`/`todoread` tools, `GET /session/{id}/todo`).

Like every other write, setting the list publishes one event: `todo.updated`.
"""

from __future__ import annotations

from typing import Any

from wakeful.session.bus import EventBus
from wakeful.storage.base import TodoStore


class Todos:
    def __init__(self, store: TodoStore, bus: EventBus) -> None:
        self._store = store
        self.bus = bus

    async def get_todos(self, session_id: str) -> list[dict[str, Any]]:
        return await self._store.get_todos(session_id)

    async def set_todos(self, session_id: str, todos: list[dict[str, Any]]) -> None:
        await self._store.set_todos(session_id, todos)
        self.bus.publish("todo.updated", {"sessionID": session_id, "todos": todos})
