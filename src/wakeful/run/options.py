"""What every model call of a run sends besides the conversation, resolved once per run.

Options merge as the reference merges them (later winning, object by object): the package's
defaults, the model's `options`, the agent's `options`, the variant's. `max_tokens` comes from the
model's output limit; temperature and top_p are the agent's, else the model family's defaults (no
temperature for a model configured with `temperature: false`). A compaction's summary call uses the
same options without the variant: a thinking budget there would only eat the summary's room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wakeful.project import models
from wakeful.project.agents import Agent
from wakeful.project.catalog import ModelChoice
from wakeful.run.tokens import Window


@dataclass(frozen=True)
class CallOptions:
    options: dict[str, Any]
    summary_options: dict[str, Any]
    window: Window
    thinking: int  # output tokens an Anthropic call asks for on top of max_tokens
    temperature: float | None
    top_p: float | None

    @classmethod
    def of(
        cls, choice: ModelChoice, agent: Agent, variant: str | None, session_id: str, reserved: int | None
    ) -> CallOptions:
        npm, api = choice.provider.npm, choice.api_model
        base = models.base_options(choice.provider.id, npm, api, session_id)
        summary = models.merge(models.merge(base, choice.options), agent.options)
        options = models.merge(summary, choice.variants.get(variant, {}) if variant else {})
        max_output = models.max_output_tokens(npm, choice.limits, options)
        temperature = agent.temperature if agent.temperature is not None else models.default_temperature(api)
        return cls(
            options=options,
            summary_options=summary,
            window=Window.of(choice.limits, max_output, reserved),
            thinking=models.thinking_budget(npm, options),
            temperature=temperature if choice.temperature_allowed else None,
            top_p=agent.top_p if agent.top_p is not None else models.default_top_p(api),
        )
