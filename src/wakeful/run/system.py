"""The system prompt of a run, assembled in the reference's order:

1. the agent's own `prompt`, or else wakeful's prompt (`prompts/base.md`) with the notes for the
   model's family (`prompts/<family>.md`) and, for a read-only agent, `prompts/read-only.md`;
2. the environment block: working directory, whether it is a git repository, platform, date;
3. the instruction files (`wakeful.project.instructions`), one text each;
4. for a `json_schema` prompt, the structured-output instruction (`prompts/structured.md`);
5. the prompt's own `system` text.

Each is one system text; an adapter sends them as the wire allows (OpenAI: one system message
each). The environment block is cached per directory and day, the instruction files per project
(see `Instructions`), and a run builds its system prompt once, not at every step.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sys
import time
from importlib import resources
from pathlib import Path

from wakeful.project.agents import Agent
from wakeful.project.config import project_chain
from wakeful.project.instructions import Instructions

FAMILIES = ("claude", "openai", "gpt-5", "gemini", "other")


def _prompt(name: str) -> str:
    return (resources.files("wakeful.run") / "prompts" / f"{name}.md").read_text(encoding="utf-8").strip()


BASE = _prompt("base")
FAMILY_NOTES = {family: _prompt(family) for family in FAMILIES}
READ_ONLY = _prompt("read-only")
STRUCTURED = _prompt("structured")
COMPACTION = _prompt("compaction")


def family(api_model: str) -> str:
    """Which notes a model gets, by the reference's rule for its own per-family prompts."""
    name = api_model.lower()
    if "gpt-5" in name:
        return "gpt-5"
    if "gpt-" in name or re.search(r"(^|[/:-])o[134]($|-)", name):
        return "openai"
    if "gemini-" in name:
        return "gemini"
    if "claude" in name:
        return "claude"
    return "other"


def agent_prompt(agent: Agent, api_model: str) -> str:
    return agent.prompt or _wakeful_prompt(agent.name, family(api_model), agent.read_only)


@functools.lru_cache(maxsize=256)
def _wakeful_prompt(agent: str, family: str, read_only: bool) -> str:
    # One string for all the runs of an agent and family: a thousand runs waiting on their model
    # would otherwise keep a thousand copies (and the adapters' encodings of it are cached by it).
    parts = [BASE.replace("{agent}", agent), FAMILY_NOTES[family]]
    if read_only:
        parts.append(READ_ONLY)
    return "\n\n".join(parts)


def _environment(directory: Path, today: str) -> str:
    chain = project_chain(directory)
    git = (chain[0] / ".git").exists()
    return "\n".join(
        [
            "The environment of this run:",
            "<env>",
            f"  Working directory: {directory}",
            f"  Is directory a git repo: {'yes' if git else 'no'}",
            f"  Platform: {sys.platform}",
            f"  Today's date: {today}",
            "</env>",
        ]
    )


class SystemPrompts:
    """Builds runs' system prompts; holds the caches that make that cheap."""

    def __init__(self, instructions: Instructions) -> None:
        self.instructions = instructions
        self._environments: dict[tuple[Path, str], str] = {}

    async def environment(self, directory: Path) -> str:
        today = time.strftime("%a %b %d %Y")
        key = (directory, today)
        block = self._environments.get(key)
        if block is None:
            block = await asyncio.to_thread(_environment, directory, today)
            self._environments = {k: v for k, v in self._environments.items() if k[1] == today}
            self._environments[key] = block
        return block

    async def build(
        self,
        *,
        directory: Path,
        agent: Agent,
        api_model: str,
        instructions: list[str],
        structured: bool = False,
        user_system: str | None = None,
    ) -> list[str]:
        """`instructions` is the project's `instructions` list of opencode.json."""
        out = [agent_prompt(agent, api_model), await self.environment(directory)]
        out += await self.instructions.load(directory, instructions)
        if structured:
            out.append(STRUCTURED)
        if user_system:
            out.append(user_system)
        return out
