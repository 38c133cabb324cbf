"""Warming a test process: the first request an app answers in a process pays for imports and
first-use set-up (the provider SDKs, the scripted model, json5, pydantic validators): half a second
or more on a busy machine, which the loop-stall guard would blame on whichever async test came
first. A module-scoped fixture calls `warm_process()` before its tests' loops start."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tests.support.fakellm import FakeLLM
from tests.support.http import prompt_body, tool
from tests.support.inproc import create_session, ok, running, server_config
from tests.support.server import SCRIPTED, write_project_config

_warm = False


def warm_process() -> None:
    """Answer a prompt with a tool call in-process on the scripted model and through the OpenAI SDK
    (the fake LLM), once per process, on a loop of its own."""
    global _warm
    if _warm:
        return

    async def one_prompt(root: Path, llm_url: str) -> None:
        project = root / llm_url.replace("/", "_").replace(":", "")
        project.mkdir()
        config = write_project_config(project, llm_url)
        async with running(server_config(root / "data", project)) as app:
            sid = await create_session(app.client)
            script = f"{tool('read', filePath=str(config))}\nREPLY warm"
            ok(await app.client.post(f"/session/{sid}/message", json=prompt_body(script)))

    async def both(root: Path) -> None:
        await one_prompt(root, SCRIPTED)
        async with FakeLLM() as fake:  # the OpenAI SDK over HTTP
            await one_prompt(root, fake.url)

    with tempfile.TemporaryDirectory(prefix="wakeful-warm-") as root:
        asyncio.run(both(Path(root)))
    _warm = True
