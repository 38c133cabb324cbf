"""Unit tests of wakeful.project.permissions: wildcards, config, defaults, decisions, shell lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.errors import InvalidRequestError
from wakeful.project.agents import load_agents
from wakeful.project.config import ProjectConfig
from wakeful.project.permissions import (
    always_pattern,
    decide,
    disabled,
    evaluate,
    from_config,
    parse_shell,
    wildcard,
)
from wakeful.wire.permissions import PermissionRule


def rule(permission: str, pattern: str, action: str) -> PermissionRule:
    return PermissionRule.model_validate({"permission": permission, "pattern": pattern, "action": action})


@pytest.mark.parametrize(
    ("text", "pattern", "matches"),
    [
        ("anything/at/all", "*", True),
        ("/p/.env", "*.env", True),  # `*` crosses slashes
        ("/p/.env.example", "*.env", False),
        ("git", "git *", True),  # a trailing " *" also matches the bare command
        ("git status --short", "git *", True),
        ("gitk", "git *", False),
        ("rm -rf x", "rm *", True),
        ("a.c", "a?c", True),
        ("a+c", "a.c", False),  # regex characters are literal
        ("C:\\x\\y", "C:/x/*", True),  # backslashes count as slashes
    ],
)
def test_wildcards(text: str, pattern: str, matches: bool) -> None:
    assert wildcard(text, pattern) is matches


def test_config_becomes_rules_in_order_with_home_expanded() -> None:
    rules = from_config(
        {"bash": {"*": "allow", "rm *": "deny"}, "edit": "ask", "external_directory": {"~/w/*": "allow"}},
        "/home/me",
    )
    assert [(r.permission, r.pattern, r.action) for r in rules] == [
        ("bash", "*", "allow"),
        ("bash", "rm *", "deny"),
        ("edit", "*", "ask"),
        ("external_directory", "/home/me/w/*", "allow"),
    ]
    assert [(r.permission, r.pattern, r.action) for r in from_config("deny")] == [("*", "*", "deny")]


@pytest.mark.parametrize("bad", [{"bash": "maybe"}, {"bash": {"*": 1}}, {"bash": 3}, ["deny"]])
def test_a_bad_config_is_refused_not_ignored(bad: object) -> None:
    with pytest.raises(InvalidRequestError, match="invalid config"):
        from_config(bad)


def test_the_last_matching_rule_wins_and_no_rule_asks() -> None:
    rules = [rule("bash", "*", "allow"), rule("bash", "rm *", "deny"), rule("bash", "rm -i *", "allow")]
    assert evaluate("bash", "ls", rules) == "allow"
    assert evaluate("bash", "rm x", rules) == "deny"
    assert evaluate("bash", "rm -i x", rules) == "allow"
    assert evaluate("webfetch", "x", rules) == "ask"


def test_defaults_as_the_reference_has_them() -> None:
    agents = load_agents(ProjectConfig(Path("/p"), {}, ()))
    build = agents["build"].permission
    assert evaluate("bash", "rm -rf /", build) == "allow"
    assert evaluate("external_directory", "/etc/*", build) == "ask"
    assert evaluate("doom_loop", "*", build) == "ask"
    assert evaluate("read", "/p/.env", build) == "ask"
    assert evaluate("read", "/p/.env.local", build) == "ask"
    assert evaluate("read", "/p/.env.example", build) == "allow"
    assert evaluate("edit", "src/x.py", agents["plan"].permission) == "deny"


def test_agent_rules_come_after_the_config_rules() -> None:
    data = {"permission": {"bash": "deny"}, "agent": {"build": {"permission": {"bash": {"ls *": "allow"}}}}}
    build = load_agents(ProjectConfig(Path("/p"), data, ())).get("build")
    assert build is not None
    assert evaluate("bash", "ls -la", build.permission) == "allow"
    assert evaluate("bash", "rm x", build.permission) == "deny"
    assert build.wire().permission == build.permission


def test_a_deny_of_the_rules_wins_over_an_approval() -> None:
    rules = [rule("bash", "*", "ask"), rule("bash", "git push *", "deny")]
    approved = [rule("bash", "git *", "allow")]
    assert decide("bash", ["git status"], rules, approved).action == "allow"
    denied = decide("bash", ["git status", "git push origin"], rules, approved)
    assert (denied.action, denied.pattern, denied.rule) == ("deny", "git push origin", rules[1])
    asked = decide("bash", ["ls", "git log"], rules, [])
    assert (asked.action, asked.ask) == ("ask", ["ls", "git log"])


def test_tools_denied_altogether_are_disabled() -> None:
    rules = [
        rule("*", "*", "allow"),
        rule("edit", "*", "deny"),
        rule("bash", "*", "deny"),
        rule("bash", "ls", "allow"),
    ]
    assert set(disabled(["edit", "write", "bash", "read"], rules)) == {"edit", "write"}


def test_every_command_of_a_compound_line() -> None:
    line = parse_shell(
        'FOO=1 git status --short && (cd /tmp; rm -rf "a b") | x=$(cat /etc/passwd) > out 2>&1'
    )
    assert [c.text for c in line.commands] == [
        "git status --short",
        "cd /tmp",
        'rm -rf "a b"',
        "cat /etc/passwd",
    ]
    assert line.redirects == ["out"]  # 2>&1 names no file
    assert [always_pattern(c) for c in line.commands] == ["git status *", "cd *", "rm *", "cat *"]
    assert always_pattern(parse_shell("npm run build --watch").commands[0]) == "npm run build *"


def test_a_line_that_does_not_parse_is_also_checked_whole() -> None:
    line = parse_shell("if [ x ; then rm y")
    assert line.commands[-1].text == "if [ x ; then rm y"
