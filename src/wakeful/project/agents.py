"""Agents: who answers a prompt, with which tools and instructions.

Built in, like the reference: `build` (every tool) and `plan` (read-only tools); neither has a
prompt of its own, so the run uses wakeful's system prompt for the model's family
(`wakeful.run.system`). A project's config adds or overrides agents under `agent` (and the legacy
`mode`): `prompt` (replaces that system prompt), `model`, `variant`, `temperature`, `top_p`,
`options`, `tools` (name -> enabled), `disable`, `description`, `mode`, `hidden`, `steps`,
`permission`. Each agent's `permission` is its whole ruleset
(`wakeful.project.permissions.agent_ruleset`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from wakeful.errors import InvalidRequestError
from wakeful.project.config import ProjectConfig
from wakeful.project.permissions import Ruleset, agent_ruleset, from_config
from wakeful.wire import meta as wire


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
        if self.read_only and tool not in read_only_tools:
            return False
        return self.tools.get(tool, self.tools.get("*", True))

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
    }


def load_agents(config: ProjectConfig) -> dict[str, Agent]:
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


# The agents of the latest configs seen (each ProjectConfig is immutable, and a changed file makes a
# new one), so that accepting a prompt does not rebuild every agent's permission rules.
_AGENTS: dict[int, tuple[ProjectConfig, dict[str, Agent]]] = {}
_AGENTS_KEPT = 64


def _agents(config: ProjectConfig) -> dict[str, Agent]:
    kept = _AGENTS.get(id(config))
    if kept is not None and kept[0] is config:
        return kept[1]
    agents = load_agents(config)
    if len(_AGENTS) >= _AGENTS_KEPT:
        _AGENTS.pop(next(iter(_AGENTS)))
    _AGENTS[id(config)] = (config, agents)
    return agents


def resolve_agent(config: ProjectConfig, name: str | None) -> Agent:
    """The agent `name` (or the default one) of `config`; agents are shared: never change one."""
    agents = _agents(config)
    chosen = name or config.data.get("default_agent") or "build"
    agent = agents.get(chosen)
    if agent is None:
        raise InvalidRequestError(f"Unknown agent: {chosen}", field="agent")
    return agent
