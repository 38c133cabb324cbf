"""opencode's permission rules: what an agent may do, what it must ask for, what it may never do.

A ruleset is a list of `{permission, pattern, action}`. For one request (a permission name and a
pattern) the last rule whose permission and pattern both match decides; with no match the action is
`ask`. Patterns are the reference's wildcards: `*` is any run of characters, `/` included, `?` one
character, and a pattern ending in ` *` also matches without that tail (`git *` matches `git`).

An agent's ruleset is the defaults, then the agent's built-in rules, then the config's top-level
`permission`, then the agent's own `permission`; the session's ruleset (`PATCH /session`) comes
after that. In config a permission takes an action or an object of pattern -> action, and
`"permission": "deny"` stands for `{"*": "deny"}`.

What tools ask, by permission name: `read` the real absolute path; `edit` (the write and edit
tools) the real path relative to the worktree root; `glob` and `grep` their pattern; `list` the real
path; `bash` each command of the line, from its name to its end as written; `external_directory`
`<directory>/*` for anything outside the project directory and its worktree root.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wakeful.errors import InvalidRequestError
from wakeful.wire.permissions import Action, PermissionRule

if TYPE_CHECKING:
    import tree_sitter

Ruleset = list[PermissionRule]
ACTIONS: tuple[Action, ...] = ("allow", "deny", "ask")

# The reference's defaults: everything allowed, except leaving the project and looping, which ask,
# and reading .env files (but not their examples), which asks too.
DEFAULTS: dict[str, object] = {
    "*": "allow",
    "doom_loop": "ask",
    "external_directory": {"*": "ask"},
    "question": "deny",
    "plan_enter": "deny",
    "plan_exit": "deny",
    "read": {"*": "allow", "*.env": "ask", "*.env.*": "ask", "*.env.example": "allow"},
}
BUILTIN_AGENT_RULES: dict[str, dict[str, object]] = {
    "build": {"question": "allow", "plan_enter": "allow"},
    # plan may hand work to explore, the read-only subagent, but to no subagent that could edit
    "plan": {
        "question": "allow",
        "plan_exit": "allow",
        "edit": {"*": "deny"},
        "task": {"*": "deny", "explore": "allow"},
    },
    "general": {"todowrite": "deny", "todoread": "deny"},
    # explore reads, searches and runs commands; everything else is denied
    "explore": {
        "*": "deny",
        "read": "allow",
        "glob": "allow",
        "grep": "allow",
        "list": "allow",
        "bash": "allow",
        "webfetch": "allow",
        "external_directory": {"*": "ask"},
    },
}
# Tools that change files all ask under one permission.
EDIT_TOOLS = frozenset({"edit", "write", "apply_patch", "multiedit"})


def tool_permission(tool: str) -> str:
    return "edit" if tool in EDIT_TOOLS else tool


# --- wildcards and evaluation ---------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.replace("\\", "/")
    optional_tail = pattern.endswith(" *")
    body = pattern[:-2] if optional_tail else pattern
    out = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in body)
    return re.compile(out + ("( .*)?" if optional_tail else ""), re.DOTALL)


def wildcard(text: str, pattern: str) -> bool:
    """Whether `text` matches `pattern` whole (backslashes count as slashes on both sides)."""
    return _regex(pattern).fullmatch(text.replace("\\", "/")) is not None


def last_match(permission: str, pattern: str, *rulesets: Iterable[PermissionRule]) -> PermissionRule | None:
    found = None
    for ruleset in rulesets:
        for rule in ruleset:
            if wildcard(permission, rule.permission) and wildcard(pattern, rule.pattern):
                found = rule
    return found


def evaluate(permission: str, pattern: str, *rulesets: Iterable[PermissionRule]) -> Action:
    rule = last_match(permission, pattern, *rulesets)
    return "ask" if rule is None else rule.action


@dataclass
class Decision:
    """What a request's patterns come to: `deny` (with the pattern and the rule that denies it),
    `allow`, or `ask` for the patterns that neither the rules nor earlier approvals allow."""

    action: Action
    pattern: str | None = None
    rule: PermissionRule | None = None
    ask: list[str] = field(default_factory=list)


def decide(permission: str, patterns: Iterable[str], ruleset: Ruleset, approved: Ruleset) -> Decision:
    """Evaluate every pattern. A deny of the ruleset wins over everything, approvals included: an
    `always` given for `git *` must not lift a rule that denies `git push *`."""
    ask: list[str] = []
    for pattern in patterns:
        rule = last_match(permission, pattern, ruleset)
        if rule is not None and rule.action == "deny":
            return Decision("deny", pattern, rule)
        if rule is not None and rule.action == "allow":
            continue
        if evaluate(permission, pattern, approved) == "allow":
            continue
        ask.append(pattern)
    return Decision("ask", ask=ask) if ask else Decision("allow")


def relevant(permission: str, ruleset: Ruleset) -> Ruleset:
    """The rules of `ruleset` that speak about `permission`, for an error message."""
    return [rule for rule in ruleset if wildcard(permission, rule.permission)]


def disabled(tools: Iterable[str], ruleset: Ruleset) -> dict[str, PermissionRule]:
    """The tools that every call would be denied, with the rule that denies them: the last rule for
    the tool's permission says `deny` for every pattern. The model is not offered them."""
    out: dict[str, PermissionRule] = {}
    for tool in tools:
        permission = tool_permission(tool)
        rule = next((r for r in reversed(ruleset) if wildcard(permission, r.permission)), None)
        if rule is not None and rule.pattern == "*" and rule.action == "deny":
            out[tool] = rule
    return out


# --- configuration --------------------------------------------------------------------------------


def _expand_home(pattern: str, home: str | None) -> str:
    if home is None:
        return pattern
    for prefix in ("~", "$HOME"):
        if pattern == prefix or pattern.startswith(prefix + "/"):
            return home.rstrip("/") + pattern[len(prefix) :]
    return pattern


def _action(value: object, where: str) -> Action:
    for action in ACTIONS:
        if value == action:
            return action
    raise InvalidRequestError(f"invalid config: {where} must be allow, ask or deny, not {value!r}")


def from_config(value: object, home: str | None = None, where: str = "permission") -> Ruleset:
    """The rules of a config `permission` value, in the config's order. `~` and `$HOME` at the start
    of a pattern stand for `home`. A bad value is refused rather than ignored: a rule that was
    meant to deny must never silently allow."""
    if value is None:
        return []
    if isinstance(value, str):
        value = {"*": value}
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"invalid config: {where} must be an action or an object")
    rules: Ruleset = []
    for permission, rule in value.items():
        if isinstance(rule, str):
            rules.append(
                PermissionRule(
                    permission=permission, pattern="*", action=_action(rule, f"{where}.{permission}")
                )
            )
        elif isinstance(rule, Mapping):
            for pattern, action in rule.items():
                rules.append(
                    PermissionRule(
                        permission=permission,
                        pattern=_expand_home(str(pattern), home),
                        action=_action(action, f"{where}.{permission}.{pattern}"),
                    )
                )
        else:
            raise InvalidRequestError(f"invalid config: {where}.{permission} must be an action or an object")
    return rules


def agent_ruleset(name: str, config_rules: Ruleset, agent_permission: object, home: str | None) -> Ruleset:
    """An agent's ruleset: defaults, the built-in agent's own rules, the config's, the agent's."""
    return [
        *from_config(DEFAULTS),
        *from_config(BUILTIN_AGENT_RULES.get(name)),
        *config_rules,
        *from_config(agent_permission, home, f"agent.{name}.permission"),
    ]


# --- shell command lines --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShellCommand:
    """One simple command of a command line: `text` from its name to its end as written (leading
    `VAR=value` assignments and the line's operators left out), `words` its name and arguments."""

    text: str
    words: tuple[str, ...]


@dataclass
class ShellLine:
    """What a command line runs (`commands`, nested ones included) and the files its redirections
    name (`redirects`, quotes removed; `2>&1` and the like name none)."""

    commands: list[ShellCommand] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)


# The node types of tree-sitter-bash that are a command's name or one of its arguments.
_WORDS = frozenset({"command_name", "word", "string", "raw_string", "concatenation", "number"})


@functools.cache
def _parser() -> tree_sitter.Parser:
    # Loaded on the first bash command a rule looks at, not with the server.
    import tree_sitter
    import tree_sitter_bash

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


def unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def parse_shell(line: str) -> ShellLine:
    """Every command `line` runs, in compound lines, pipelines, subshells, substitutions and
    control flow alike (`ls && rm x` runs `ls` and `rm x`). A line the grammar cannot wholly parse
    is also given as one command, whole, so that a rule about the line still sees it."""
    source = line.encode()
    tree = _parser().parse(source)
    found = ShellLine()
    for node in _walk(tree.root_node):
        if node.type == "file_redirect":
            target = node.child_by_field_name("destination")
            if target is not None and target.type != "number" and target.text:
                found.redirects.append(unquote(target.text.decode(errors="replace")))
            continue
        name = node.child_by_field_name("name")
        if node.type != "command" or name is None:
            continue
        text = source[name.start_byte : node.end_byte].decode(errors="replace")
        words = tuple(c.text.decode(errors="replace") for c in node.children if c.type in _WORDS and c.text)
        found.commands.append(ShellCommand(text, words))
    if tree.root_node.has_error:
        found.commands.append(ShellCommand(line.strip(), tuple(line.split())))
    return found


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


# How many words name a command, for the pattern an `always` approves: `git status` (2 words)
# approves `git status *`, `npm run build` (3) approves `npm run build *`; any other command 1.
_ARITY = {
    "apt": 2, "apt-get": 2, "aws": 3, "brew": 2, "bun": 2, "bun run": 3, "cargo": 2, "cargo run": 3,
    "docker": 2, "docker compose": 3, "gcloud": 3, "gh": 3, "git": 2, "git config": 3, "git remote": 3,
    "git stash": 3, "go": 2, "gradle": 2, "helm": 2, "kubectl": 2, "make": 2, "mvn": 2, "npm": 2,
    "npm exec": 3, "npm run": 3, "pip": 2, "pnpm": 2, "pnpm run": 3, "poetry": 2, "python": 2,
    "systemctl": 2, "terraform": 2, "uv": 2, "uv run": 3, "yarn": 2, "yarn run": 3,
}  # fmt: skip


def always_pattern(command: ShellCommand) -> str:
    """The pattern an `always` reply to `command` allows: its naming words, then ` *`."""
    words = list(command.words)
    for size in range(len(words), 0, -1):
        arity = _ARITY.get(" ".join(words[:size]))
        if arity is not None:
            return " ".join(words[:arity]) + " *"
    return " ".join(words[:1]) + " *"
