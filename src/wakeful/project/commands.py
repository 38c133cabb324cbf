"""Commands: prompt templates run by `POST /session/{id}/command`.

Built-in commands plus those of a project's config (`command.<name>.template`, `description`,
`agent`, `model`, `subtask`). `$ARGUMENTS` is replaced by the whole argument string and `$1`, `$2`...
by its shell-style words (the last numbered placeholder takes the rest, like the reference).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from wakeful.errors import InvalidRequestError
from wakeful.project.config import ProjectConfig

_NUMBERED = re.compile(r"\$(\d+)")

INIT_TEMPLATE = (
    "Create or update `AGENTS.md` for this repository: a compact instruction file for future agent "
    "sessions. Read the README, manifests, build and test configuration first; record exact commands, "
    "conventions and pitfalls an agent would otherwise miss.\n\nUser-provided focus or constraints:\n$ARGUMENTS"
)
REVIEW_TEMPLATE = (
    "Review the changes ($ARGUMENTS; default: the uncommitted changes). Use git to see the diff, read "
    "the surrounding code, and report bugs, risks and missing tests, most important first."
)


@dataclass
class Command:
    name: str
    template: str
    description: str | None = None
    agent: str | None = None
    model: str | None = None
    subtask: bool | None = None
    source: str = "command"

    @property
    def hints(self) -> list[str]:
        found = sorted(set(_NUMBERED.findall(self.template)), key=int)
        hints = [f"${n}" for n in found]
        if "$ARGUMENTS" in self.template:
            hints.append("$ARGUMENTS")
        return hints

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "source": self.source, "template": self.template}
        for key in ("description", "agent", "model", "subtask"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["hints"] = self.hints
        return out

    def expand(self, arguments: str) -> str:
        try:
            words = shlex.split(arguments)
        except ValueError:
            words = arguments.split()
        numbers = [int(n) for n in _NUMBERED.findall(self.template)]
        last = max(numbers, default=0)

        def numbered(match: re.Match[str]) -> str:
            index = int(match.group(1))
            if index > len(words):
                return ""
            if index == last:
                return " ".join(words[index - 1 :])
            return words[index - 1]

        text = _NUMBERED.sub(numbered, self.template)
        text = text.replace("$ARGUMENTS", arguments)
        if "$ARGUMENTS" not in self.template and not numbers and arguments.strip():
            text = f"{text}\n\n{arguments}"
        return text.strip()


def builtin_commands() -> dict[str, Command]:
    return {
        "init": Command("init", INIT_TEMPLATE, "guided AGENTS.md setup"),
        "review": Command(
            "review",
            REVIEW_TEMPLATE,
            "review changes [commit|branch|pr], defaults to uncommitted",
            subtask=True,
        ),
    }


def load_commands(config: ProjectConfig) -> dict[str, Command]:
    commands = builtin_commands()
    for name, raw in config.section("command").items():
        if not isinstance(raw, dict) or not isinstance(raw.get("template"), str):
            continue
        commands[name] = Command(
            name,
            raw["template"],
            raw.get("description"),
            raw.get("agent"),
            raw.get("model"),
            raw.get("subtask"),
        )
    return commands


def resolve_command(config: ProjectConfig, name: str) -> Command:
    command = load_commands(config).get(name.lstrip("/"))
    if command is None:
        raise InvalidRequestError(f"Unknown command: {name}", field="command")
    return command
