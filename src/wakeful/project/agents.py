"""Agents: who answers a prompt, with which tools and instructions.

Built in, like the reference: `build` (every tool) and `plan` (read-only tools), the primary agents;
`general` and `explore`, the subagents that the task tool starts (explore may only read, search and
run commands: its rules deny the rest, see `wakeful.project.permissions.BUILTIN_AGENT_RULES`). Only
explore has a prompt of its own; for the others the run uses wakeful's system prompt for the model's
family (`wakeful.run.system`). A project's config adds or overrides agents under `agent` (and the
legacy `mode`): `prompt` (replaces that system prompt), `model`, `variant`, `temperature`, `top_p`,
`options`, `tools` (name or pattern -> enabled), `disable`, `description`, `mode`, `hidden`, `steps`,
`permission`. Each agent's `permission` is its whole ruleset
(`wakeful.project.permissions.agent_ruleset`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from wakeful.errors import InvalidRequestError
from wakeful.project.config import Derived, ProjectConfig
from wakeful.project.permissions import EDIT_TOOLS, Ruleset, agent_ruleset, from_config, wildcard
from wakeful.wire import meta as wire

EXPLORE_PROMPT = (
    "You are wakeful's explore agent, started by another agent to look something up in a codebase. "
    "Find files with glob, search their contents with grep, read what matters, and use bash only for "
    "commands that change nothing (git log, ls, wc). Search broadly first, then narrow down; run "
    "independent searches in parallel. You cannot change files. Your final message is all the agent "
    "that started you will see: answer its question directly, with absolute paths and line numbers "
    "where they help, and say what you could not find."
)
GENERAL_DESCRIPTION = (
    "A general-purpose agent for research and multi-step tasks, with every tool but the todo list. "
    "Start several to work on independent parts in parallel."
)
EXPLORE_DESCRIPTION = (
    'A fast, read-only agent for exploring a codebase: finding files by pattern ("src/**/*.ts"), '
    "searching code for keywords, answering questions about how the code works. Say how thorough "
    "it should be: a quick look, a moderate search, or a thorough one across names and places."
)


def _toggle(toggles: dict[str, bool], tool: str) -> bool | None:
    """What a `tools` map says of `tool`: its name, else the last pattern that matches it
    (`"k8s_*": false` switches off an MCP server's tools), else nothing."""
    if tool in toggles:
        return toggles[tool]
    return next((on for pattern, on in reversed(toggles.items()) if wildcard(tool, pattern)), None)


def enabled(toggles: dict[str, bool], tool: str) -> bool:
    """Whether a `tools` map (an agent's, a prompt's) leaves `tool` on. The tools that change
    files share the `edit` permission, so turning one of them off turns them all off, as in the
    reference: an agent without `edit` and `write` gets no `apply_patch` either."""
    if tool in EDIT_TOOLS:
        named = [toggles[name] for name in EDIT_TOOLS if name in toggles]
        if named:  # a name says more than a pattern: {"*": false, "apply_patch": true} can edit
            return all(named)
        return all(on for name in EDIT_TOOLS if (on := _toggle(toggles, name)) is not None)
    return _toggle(toggles, tool) is not False


@dataclass
class Agent:
    name: str
    description: str = ""
    mode: Literal["subagent", "primary", "all"] = "primary"
    native: bool = False
    hidden: bool = False
    prompt: str = ""
    model: str | None = None  # "provider/model"
    variant: str | None = None  # the model variant used when a prompt names none
    temperature: float | None = None
    top_p: float | None = None
    tools: dict[str, bool] = field(default_factory=dict)
    read_only: bool = False
    steps: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    permission: Ruleset = field(default_factory=list)  # see wakeful.project.permissions

    def allows(self, tool: str, read_only_tools: set[str]) -> bool:
        """Whether the agent offers `tool`: see `enabled`."""
        if self.read_only and tool not in read_only_tools:
            return False
        return enabled(self.tools, tool)

    def wire(self) -> wire.Agent:
        model = None
        if self.model and "/" in self.model:
            provider, model_id = self.model.split("/", 1)
            model = wire.AgentModel(providerID=provider, modelID=model_id)
        return wire.Agent(
            name=self.name,
            description=self.description,
            mode=self.mode,
            native=self.native,
            hidden=self.hidden,
            permission=self.permission,
            options=self.options,
            prompt=self.prompt or None,
            temperature=self.temperature,
            topP=self.top_p,
            steps=self.steps,
            model=model,
            variant=self.variant,
        )


def builtin_agents() -> dict[str, Agent]:
    return {
        "build": Agent("build", "The default agent: all tools.", native=True),
        "plan": Agent("plan", "Read-only planning: no edits, no commands.", native=True, read_only=True),
        "general": Agent("general", GENERAL_DESCRIPTION, mode="subagent", native=True),
        "explore": Agent("explore", EXPLORE_DESCRIPTION, mode="subagent", native=True, prompt=EXPLORE_PROMPT),
    }


def _build_agents(config: ProjectConfig) -> dict[str, Agent]:
    agents = builtin_agents()
    config_rules = from_config(config.data.get("permission"), config.home)
    overrides: dict[str, object] = {}
    for section in ("mode", "agent"):
        for name, raw in config.section(section).items():
            if not isinstance(raw, dict):
                continue
            if raw.get("disable"):
                agents.pop(name, None)
                continue
            agent = agents.get(name) or Agent(name, mode="all")
            agent.description = raw.get("description", agent.description)
            agent.mode = raw.get("mode", agent.mode)
            agent.hidden = bool(raw.get("hidden", agent.hidden))
            agent.prompt = raw.get("prompt", agent.prompt)
            agent.model = raw.get("model", agent.model)
            agent.variant = raw.get("variant", agent.variant)
            agent.temperature = raw.get("temperature", agent.temperature)
            agent.top_p = raw.get("top_p", agent.top_p)
            agent.steps = raw.get("steps", raw.get("maxSteps", agent.steps))
            agent.options = raw.get("options", agent.options)
            if isinstance(raw.get("tools"), dict):
                agent.tools = {**agent.tools, **raw["tools"]}
            if "permission" in raw:
                overrides[name] = raw["permission"]
            agents[name] = agent
    for agent in agents.values():
        agent.permission = agent_ruleset(agent.name, config_rules, overrides.get(agent.name), config.home)
    return agents


# The agents of the latest configs seen, so that accepting a prompt does not rebuild every agent's
# permission rules.
_AGENTS: Derived[dict[str, Agent]] = Derived()


def load_agents(config: ProjectConfig) -> dict[str, Agent]:
    """The agents of `config`, by name: shared by every caller, so never change one."""
    return _AGENTS.get((config,), lambda: _build_agents(config))


def resolve_agent(config: ProjectConfig, name: str | None) -> Agent:
    """The agent `name` (or the default one) of `config`; agents are shared: never change one."""
    agents = load_agents(config)
    chosen = name or config.data.get("default_agent") or "build"
    agent = agents.get(chosen)
    if agent is None:
        raise InvalidRequestError(f"Unknown agent: {chosen}", field="agent")
    return agent
