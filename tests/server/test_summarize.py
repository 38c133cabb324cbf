"""`POST /session/{id}/summarize` over HTTP, against a server process and the fake LLM: it compacts on
demand, stores the compaction as the reference stores it, the next prompt sees the summary instead
of the history, and a bad request is refused before anything is stored."""

from __future__ import annotations

import httpx

from tests.support.fakellm import FakeLLMThread
from tests.support.http import messages, new_session, prompt, text_of, validate_all
from wakeful.run.history import COMPACTION_QUESTION

MODEL = {"providerID": "mock", "modelID": "mock-model"}


def test_summarize_stores_a_compaction_that_later_prompts_see(http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    prompt(http, sid, "REPLY the first answer, about pods")
    prompt(http, sid, "REPLY the second answer")
    response = http.post(f"/session/{sid}/summarize", json=MODEL)
    assert response.status_code == 200, response.text
    assert response.json() is True

    stored = messages(http, sid)
    validate_all(stored)
    request, summary = stored[-2:]
    (part,) = request["parts"]
    assert part["type"] == "compaction" and part["auto"] is False
    assert request["info"]["id"] == response.headers["X-Wakeful-Message-ID"]
    assert summary["info"]["parentID"] == request["info"]["id"]
    assert summary["info"]["summary"] is True and summary["info"]["mode"] == "compaction"
    (asked,) = [r for r in llm.requests if "Summarise the conversation above" in r.script]
    assert not asked.body.get("tools")  # a summary request offers no tools

    script = "REPLY after the summary"
    prompt(http, sid, script)
    (after,) = [r for r in llm.requests if r.script == script]
    said = [m for m in after.body["messages"] if m["role"] != "system"]
    assert [m["content"] for m in said[:2]] == [COMPACTION_QUESTION, text_of(summary)]
    assert "about pods" not in str(said)


def test_summarize_refuses_bad_requests(http: httpx.Client) -> None:
    sid = new_session(http)
    assert http.post("/session/ses_missing/summarize", json=MODEL).status_code == 404
    for body, field in [({"providerID": "nope", "modelID": "m"}, "model"), ({"providerID": "mock"}, "modelID")]:
        response = http.post(f"/session/{sid}/summarize", json=body)
        assert response.status_code == 400, response.text
        assert response.json().get("field", "").startswith(field), response.json()
    assert messages(http, sid) == []
