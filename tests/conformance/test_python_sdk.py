"""opencode's published Python SDK (`opencode-ai` 0.1.0a36, pinned in the test extras) against a real
wakeful: create, list, chat (its older body, the model as top-level `providerID`/`modelID`),
messages, abort (of an idle session, and of a chat in progress), delete.

The SDK's `chat` is typed as returning an `AssistantMessage`; the reference, like wakeful, answers
`{info, parts}`, which the SDK keeps as extra attributes of that object.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opencode_ai import Opencode

from tests.support.fakellm import FakeLLMThread
from tests.support.server import WakefulProcess

TIMEOUT = 60.0


@pytest.fixture
def sdk(server: WakefulProcess) -> Iterator[Opencode]:
    with Opencode(base_url=server.url, timeout=TIMEOUT, max_retries=0) as client:
        yield client


def chat(sdk: Opencode, session_id: str, text: str) -> Any:
    return sdk.session.chat(
        session_id, provider_id="mock", model_id="mock-model", parts=[{"type": "text", "text": text}]
    )


def test_create_list_chat_messages_abort_delete(sdk: Opencode) -> None:
    marker = uuid.uuid4().hex[:8]
    session = sdk.session.create()
    assert session.id.startswith("ses_") and session.version == "1.18.33"
    assert session.id in [s.id for s in sdk.session.list()]

    reply = chat(sdk, session.id, f"REPLY from the python sdk {marker}")
    info: dict[str, Any] = reply.info
    parts: list[dict[str, Any]] = reply.parts
    assert info["role"] == "assistant" and (info["providerID"], info["modelID"]) == ("mock", "mock-model")
    assert [p["text"] for p in parts if p["type"] == "text"] == [f"from the python sdk {marker}"]

    messages = sdk.session.messages(session.id)
    assert [m.info.role for m in messages] == ["user", "assistant"]
    assert messages[0].parts[0].text == f"REPLY from the python sdk {marker}"
    assert messages[1].info.id == info["id"] and messages[1].info.provider_id == "mock"

    assert sdk.session.abort(session.id) is True  # idle: what an abort asks for, as the reference
    assert sdk.session.delete(session.id) is True
    assert session.id not in [s.id for s in sdk.session.list()]


def test_abort_ends_a_chat_in_progress(sdk: Opencode, llm: FakeLLMThread) -> None:
    key = f"python-sdk-{uuid.uuid4().hex[:8]}"
    session = sdk.session.create()
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(chat, sdk, session.id, f"HOLD {key}\nREPLY never finished")
            llm.wait_for_hold(key, timeout=TIMEOUT)
            assert sdk.session.abort(session.id) is True
            reply = pending.result(timeout=TIMEOUT)
        assert reply.info["error"]["name"] == "MessageAbortedError"
    finally:
        llm.release(key)
        sdk.session.delete(session.id)
