"""The permission service in a run (in-process, scripted model): deny, ask and the replies, the
timeout, and what clears a pending request (abort, drain, restart)."""

from __future__ import annotations

import json
from typing import Any

from tests.support.http import prompt_body, tool
from tests.support.inproc import EventLog, answer, new_session, prompt_run, scripted, submit
from wakeful.run.prompt import build_run
from wakeful.run.runtime import Runtime
from wakeful.wire.bodies import PromptBody
from wakeful.wire.sessions import Session

ASK_ECHO = [{"permission": "bash", "pattern": "echo *", "action": "ask"}]


def text_of(reply: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in reply["parts"] if p["type"] == "text")


async def tool_states(runtime: Runtime, session: Session) -> list[dict[str, Any]]:
    stored = await runtime.messages.list_raw(session.id)
    return [p["state"] for m in stored for p in m["parts"] if p["type"] == "tool"]


async def test_a_deny_rule_refuses_a_compound_line_and_the_run_goes_on(runtime: Runtime) -> None:
    session = await new_session(
        runtime, permission=[{"permission": "bash", "pattern": "rm *", "action": "deny"}]
    )
    reply = await answer(
        await submit(runtime, prompt_run(runtime, session, tool("bash", command="ls && rm -rf x")))
    )
    assert "TOOL_RESULT_SEEN: Permission denied" in text_of(reply)
    (state,) = await tool_states(runtime, session)
    assert state["status"] == "error"
    assert '{"permission": "bash", "pattern": "rm *", "action": "deny"}' in state["error"]
    assert "'rm -rf x'" in state["error"]


async def test_a_tool_denied_altogether_is_not_offered_and_a_call_names_the_rule(runtime: Runtime) -> None:
    session = await new_session(
        runtime, permission=[{"permission": "edit", "pattern": "*", "action": "deny"}]
    )
    run = prompt_run(runtime, session, tool("write", filePath="x.txt", content="x"))
    assert "write" not in run.executor.plan.tools and "edit" not in run.executor.plan.tools  # type: ignore[attr-defined]
    await answer(await submit(runtime, run))
    (state,) = await tool_states(runtime, session)
    assert state["error"].startswith('Permission denied: the rule {"permission": "edit", "pattern": "*"')
    assert not (runtime.config.project_dir / "x.txt").exists()


async def test_ask_waits_for_a_reply_once(runtime: Runtime) -> None:
    session = await new_session(runtime, permission=ASK_ECHO)
    events = EventLog(runtime)
    handle = await submit(runtime, prompt_run(runtime, session, tool("bash", command="echo approved")))
    asked = await events.wait_type("permission.asked", session.id)
    request = asked["properties"]
    assert request["permission"] == "bash" and request["patterns"] == ["echo approved"]
    assert request["always"] == ["echo *"] and request["tool"]["callID"]
    assert [r.wire() for r in await runtime.permissions.list()] == [request]
    await runtime.permissions.reply(request["id"], "once")
    reply = await answer(handle)
    assert "TOOL_RESULT_SEEN: approved" in text_of(reply)
    replied = await events.of("permission.replied", session.id)
    assert [e["properties"] for e in replied] == [
        {"sessionID": session.id, "requestID": request["id"], "reply": "once"}
    ]
    assert await runtime.permissions.list() == []


async def test_always_holds_for_the_rest_of_the_session(runtime: Runtime) -> None:
    session = await new_session(runtime, permission=ASK_ECHO)
    events = EventLog(runtime)
    script = "\n".join([tool("bash", command="echo one"), tool("bash", command="echo two")])
    handle = await submit(runtime, prompt_run(runtime, session, script))
    asked = await events.wait_type("permission.asked", session.id)
    await runtime.permissions.reply(asked["properties"]["id"], "always")
    await answer(handle)
    assert [s["output"].strip() for s in await tool_states(runtime, session)] == ["one", "two"]
    assert len(await events.of("permission.asked", session.id)) == 1
    other = await new_session(runtime, permission=ASK_ECHO)  # another session still asks
    handle = await submit(runtime, prompt_run(runtime, other, tool("bash", command="echo three")))
    await events.wait_type("permission.asked", other.id)
    await runtime.runs.abort(other.id)


async def test_reject_passes_the_message_to_the_model(runtime: Runtime) -> None:
    session = await new_session(runtime, permission=ASK_ECHO)
    events = EventLog(runtime)
    handle = await submit(runtime, prompt_run(runtime, session, tool("bash", command="echo no")))
    asked = await events.wait_type("permission.asked", session.id)
    await runtime.permissions.reply(asked["properties"]["id"], "reject", "use printf instead")
    reply = await answer(handle)
    assert "rejected permission to use bash (echo no)" in text_of(reply)
    assert "use printf instead" in text_of(reply)


async def test_nobody_answering_is_a_rejection_that_says_so(runtime: Runtime) -> None:
    session = await new_session(runtime, permission=ASK_ECHO)
    events = EventLog(runtime)
    body = PromptBody.model_validate(prompt_body(tool("bash", command="echo late")))
    run = build_run(runtime, session, runtime.config.project_dir, body, permission_timeout=0.05)
    reply = await answer(await submit(runtime, run))
    assert "Nobody answered the request for permission to use bash (echo late) within 0.05 s" in text_of(
        reply
    )
    (replied,) = await events.of("permission.replied", session.id)
    assert replied["properties"]["reply"] == "reject"
    assert await runtime.store.list_permissions() == []


async def test_abort_clears_a_pending_request(runtime: Runtime) -> None:
    session = await new_session(runtime, permission=ASK_ECHO)
    events = EventLog(runtime)
    handle = await submit(runtime, prompt_run(runtime, session, tool("bash", command="echo wait")))
    asked = await events.wait_type("permission.asked", session.id)
    assert await runtime.runs.abort(session.id)
    reply = await answer(handle)
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    (replied,) = await events.of("permission.replied", session.id)
    assert replied["properties"] == {
        "sessionID": session.id,
        "requestID": asked["properties"]["id"],
        "reply": "reject",
    }
    assert await runtime.permissions.list() == []


async def test_a_drain_withdraws_pending_requests_and_refuses_new_ones(runtime: Runtime) -> None:
    session = await new_session(runtime, permission=ASK_ECHO)
    events = EventLog(runtime)
    script = "\n".join([tool("bash", command="echo first"), tool("bash", command="echo second")])
    handle = await submit(runtime, prompt_run(runtime, session, script))
    await events.wait_type("permission.asked", session.id)
    await runtime.permissions.close("the server is shutting down")
    await answer(handle)
    errors = [s["error"] for s in await tool_states(runtime, session)]
    assert "withdrawn (the server is shutting down)" in errors[0]
    assert "cannot be asked: the server is shutting down" in errors[1]
    assert await runtime.permissions.list() == []


async def test_a_restart_removes_what_a_dead_server_left_pending(runtime: Runtime) -> None:
    left = {
        "id": "per_x",
        "sessionID": "ses_x",
        "permission": "bash",
        "patterns": ["ls"],
        "metadata": {},
        "always": [],
    }
    await runtime.store.put_permission(left)
    assert await runtime.permissions.recover() == 1
    assert await runtime.permissions.list() == []


async def test_a_file_part_outside_the_project_is_asked_for(runtime: Runtime, tmp_path: Any) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("server secrets")
    session = await new_session(runtime)  # the default: external_directory asks
    events = EventLog(runtime)
    parts = [
        {"type": "text", "text": "REPLY read it"},
        {"type": "file", "mime": "text/plain", "url": outside.as_uri()},
    ]
    body = PromptBody.model_validate({"parts": parts})
    handle = await submit(runtime, build_run(runtime, session, runtime.config.project_dir, body))
    asked = await events.wait_type("permission.asked", session.id)
    assert asked["properties"]["permission"] == "external_directory"
    assert asked["properties"]["patterns"] == [f"{tmp_path.as_posix()}/*"]
    assert "tool" not in asked["properties"]  # a prompt's file, not a tool call
    await runtime.permissions.reply(asked["properties"]["id"], "reject")
    await answer(handle)
    sent = json.dumps([m.text for m in scripted(runtime).requests[-1].request.messages])
    assert "server secrets" not in sent and "was not read" in sent
