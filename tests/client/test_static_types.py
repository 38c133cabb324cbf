"""Each call is defined once (`wakeful.client.calls`) and made a method of both clients: here, that
the type checker and `inspect` see those methods as if they were written out by hand."""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, assert_type

import httpx
from mypy import api

from wakeful.client import AsyncClient, Client, Event, Gap, Reply
from wakeful.wire.sessions import Session

CALLS = [
    "abort",
    "command",
    "create_session",
    "delete_session",
    "get_session",
    "list_sessions",
    "message",
    "messages",
    "prompt",
    "prompt_async",
    "reply",
    "shell",
    "update_session",
    "wait",
]
ROOT = Path(__file__).resolve().parents[2]


async def _calls_as_mypy_sees_them(client: Client, aclient: AsyncClient) -> None:
    """Never run: the test below has mypy check it."""
    assert_type(client.create_session(title="t", metadata={"k": 1}), Session)
    assert_type(client.list_sessions(limit=1, roots=True), list[Session])
    assert_type(client.prompt("ses", "hi", agent="build", deadline=1.0), Reply)
    assert_type(client.prompt_async("ses", parts=[{"type": "text", "text": "hi"}]), str)
    assert_type(client.messages("ses", limit=2), list[Reply])
    assert_type(client.delete_session("ses"), bool)
    assert_type(client.wait("ses", on_keepalive=print), Session)
    assert_type(Client.reply(client, "ses", "msg"), Reply)
    assert_type(client.events(control=True), Iterator[Event | Gap])
    assert_type(await assert_type(aclient.prompt("ses", "hi"), Coroutine[Any, Any, Reply]), Reply)
    assert_type(await aclient.command("ses", "slow", "1"), Reply)
    assert_type(await aclient.shell("ses", "true", agent="plan"), Reply)
    assert_type(await aclient.update_session("ses", title="t"), Session)
    assert_type(await AsyncClient.abort(aclient, "ses"), bool)
    assert_type(aclient.events(), AsyncIterator[Event | Gap])
    # Each line below is an error of the kind its ignore names; in strict mode an ignore that is
    # not needed is an error as well, so each line must stay wrong.
    client.prompt("ses", text=1)  # type: ignore[arg-type]
    client.prompt("ses", colour="red")  # type: ignore[call-arg]
    client.get_session()  # type: ignore[call-arg]
    await client.abort("ses")  # type: ignore[misc]
    Client(transport=httpx.AsyncHTTPTransport())  # type: ignore[arg-type]
    AsyncClient(transport=httpx.HTTPTransport(), retries=2)  # type: ignore[arg-type]


def test_mypy_types_every_call_like_a_written_out_method() -> None:
    report, errors, status = api.run(
        ["--strict", "--config-file", str(ROOT / "pyproject.toml"), "--no-error-summary", __file__]
    )
    assert (status, report, errors) == (0, "", "")


def test_both_clients_have_each_call_with_the_same_signature() -> None:
    public = {name for name in dir(Client) if not name.startswith("_")}
    assert public == {*CALLS, "close", "events"}
    assert {name for name in dir(AsyncClient) if not name.startswith("_")} == {*CALLS, "aclose", "events"}
    for name in CALLS:
        blocking, awaiting = getattr(Client, name), getattr(AsyncClient, name)
        assert (blocking.__qualname__, awaiting.__qualname__) == (f"Client.{name}", f"AsyncClient.{name}")
        assert inspect.signature(blocking) == inspect.signature(awaiting)
        assert blocking.__doc__ == awaiting.__doc__
        assert not inspect.iscoroutinefunction(blocking)
        assert inspect.iscoroutinefunction(awaiting)
    # What a method returns is what its plan returns, not the plan.
    assert typing.get_type_hints(Client.prompt)["return"] is Reply
    assert inspect.signature(AsyncClient.list_sessions).return_annotation == list[Session]
    with Client() as client:
        assert list(inspect.signature(client.wait).parameters) == ["session_id", "on_keepalive", "deadline"]
