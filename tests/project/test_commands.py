"""Unit tests of wakeful.project.commands: templates, placeholders, config commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.errors import InvalidRequestError
from wakeful.project.commands import Command, builtin_commands, load_commands, resolve_command
from wakeful.project.config import ProjectConfig


def config(data: dict) -> ProjectConfig:
    return ProjectConfig(Path("/tmp"), data, ())


@pytest.mark.parametrize(
    ("template", "arguments", "expected"),
    [
        ("all: $ARGUMENTS", "a b c", "all: a b c"),
        ("$1 then $2", "one two three", "one then two three"),  # the last placeholder takes the rest
        ("$2 before $1", "one two three", "two three before one"),
        ("$1|$3", "one two", "one|"),  # missing words become empty
        ("quoted $1 / $2", "'a b' c", "quoted a b / c"),
        ("both $1 and $ARGUMENTS", "x y", "both x y and x y"),
        ("no placeholders", "extra words", "no placeholders\n\nextra words"),
        ("no placeholders", "  ", "no placeholders"),
        ("unbalanced $1", "it's", "unbalanced it's"),
    ],
)
def test_expand(template: str, arguments: str, expected: str) -> None:
    assert Command("c", template).expand(arguments) == expected


def test_wire_and_hints() -> None:
    command = Command("c", "$2 $1 $ARGUMENTS $2", description="d", agent="plan")
    assert command.hints == ["$1", "$2", "$ARGUMENTS"]
    assert command.wire() == {
        "name": "c",
        "source": "command",
        "template": "$2 $1 $ARGUMENTS $2",
        "description": "d",
        "agent": "plan",
        "hints": ["$1", "$2", "$ARGUMENTS"],
    }


def test_config_commands_add_and_override_builtins() -> None:
    commands = load_commands(
        config(
            {
                "command": {
                    "init": {"template": "my init"},
                    "new": {"template": "T", "model": "p/m", "subtask": False},
                    "broken": {"description": "no template"},
                    "notadict": "x",
                }
            }
        )
    )
    assert set(commands) == {*builtin_commands(), "new"}
    assert commands["init"].template == "my init"
    assert commands["new"].model == "p/m" and commands["new"].subtask is False


def test_resolve_accepts_a_leading_slash_and_refuses_unknown() -> None:
    assert resolve_command(config({}), "/init").name == "init"
    with pytest.raises(InvalidRequestError):
        resolve_command(config({}), "nope")
