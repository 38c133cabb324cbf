"""What wakeful knows about a model beyond its name: its token limits, its variants and the options
sent with every call, as the reference derives them.

Limits come from `provider.<id>.models.<model>.limit` of opencode.json; where the config says
nothing, a built-in table of well-known model families answers, and an unknown model has no known
limit (0: the run then compacts only when the provider reports an overflow). Variants are the
reference's per-package reasoning presets for reasoning models, merged with the config's
`variants` (a variant with `disabled: true` is removed). Options merge, later winning key by key:
the package's defaults, the model's `options`, the agent's `options`, the chosen variant.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ANTHROPIC_NPM = "@ai-sdk/anthropic"
OPENAI_NPM = "@ai-sdk/openai"
# The reference's cap on a call's output tokens, whatever the model allows.
OUTPUT_TOKEN_MAX = 32_000


@dataclass(frozen=True)
class ModelLimits:
    """Token limits; 0 means unknown."""

    context: int = 0
    output: int = 0
    input: int = 0  # some models take less input than their context minus their output


@dataclass(frozen=True)
class _Known:
    pattern: str
    context: int
    output: int
    reasoning: bool = False


# Public figures of well-known families, matched against the API model name (a provider prefix such
# as "anthropic/" is allowed); the first match wins, so narrower patterns come first.
_KNOWN = (
    _Known(r"claude-opus-4-[5-9]", 200_000, 64_000, True),
    _Known(r"claude-opus-4", 200_000, 32_000, True),
    _Known(r"claude-(sonnet|haiku)-4", 200_000, 64_000, True),
    _Known(r"claude-3-7-sonnet", 200_000, 64_000, True),
    _Known(r"claude-3-5-(sonnet|haiku)", 200_000, 8_192),
    _Known(r"claude-3-(opus|sonnet|haiku)", 200_000, 4_096),
    _Known(r"gpt-5-chat", 128_000, 16_384),
    _Known(r"gpt-5", 400_000, 128_000, True),
    _Known(r"gpt-4\.1", 1_047_576, 32_768),
    _Known(r"gpt-4o", 128_000, 16_384),
    _Known(r"gpt-4-turbo", 128_000, 4_096),
    _Known(r"gpt-3\.5-turbo", 16_385, 4_096),
    _Known(r"o[134](-mini|-pro)?(-\d|$)", 200_000, 100_000, True),
    _Known(r"gemini-(2\.5|3)", 1_048_576, 65_536, True),
    _Known(r"gemini-2\.0-flash", 1_048_576, 8_192),
    _Known(r"deepseek-reasoner", 128_000, 64_000, True),
    _Known(r"deepseek-chat", 128_000, 8_192),
    _Known(r"qwen3-coder", 262_144, 65_536),
)


@functools.lru_cache(maxsize=1024)  # asked for every prompt: the regular expressions are not free
def _known(api_id: str) -> _Known | None:
    name = api_id.lower()
    return next((k for k in _KNOWN if re.search(rf"(^|[/:]){k.pattern}", name)), None)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def limits(api_id: str, raw: Mapping[str, Any]) -> ModelLimits:
    """`raw` is `models.<model>` of opencode.json; each limit it gives wins over the table."""
    limit = raw.get("limit")
    given: Mapping[str, Any] = limit if isinstance(limit, Mapping) else {}
    known = _known(api_id)
    return ModelLimits(
        context=_int(given.get("context")) or (known.context if known else 0),
        output=_int(given.get("output")) or (known.output if known else 0),
        input=_int(given.get("input")),
    )


def reasoning(api_id: str, raw: Mapping[str, Any]) -> bool:
    if "reasoning" in raw:
        return bool(raw["reasoning"])
    known = _known(api_id)
    return bool(known and known.reasoning)


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` merged into `base` object by object (the reference's mergeDeep)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


_EFFORTS = ("low", "medium", "high")


def _builtin_variants(npm: str, api_id: str, is_reasoning: bool) -> dict[str, dict[str, Any]]:
    if not is_reasoning:
        return {}
    name = api_id.lower()
    if any(family in name for family in ("deepseek", "minimax", "glm", "mistral")):
        return {}
    if npm == ANTHROPIC_NPM:
        return {
            "high": {"thinking": {"type": "enabled", "budgetTokens": 16_000}},
            "max": {"thinking": {"type": "enabled", "budgetTokens": 31_999}},
        }
    efforts = list(_EFFORTS)
    if npm == OPENAI_NPM and (name == "gpt-5" or "gpt-5-" in name):
        efforts.insert(0, "minimal")
    return {effort: {"reasoningEffort": effort} for effort in efforts}


def variants(npm: str, api_id: str, raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The model's variants: name -> the options it adds."""
    out = _builtin_variants(npm, api_id, reasoning(api_id, raw))
    configured = raw.get("variants")
    if isinstance(configured, Mapping):
        for name, options in configured.items():
            if not isinstance(options, Mapping):
                continue
            if options.get("disabled"):
                out.pop(str(name), None)
                continue
            out[str(name)] = merge(out.get(str(name), {}), {k: v for k, v in options.items() if k != "disabled"})
    return out


def base_options(provider_id: str, npm: str, api_id: str, session_id: str) -> dict[str, Any]:
    """The options a package sends by default (the reference's provider transform)."""
    out: dict[str, Any] = {}
    if provider_id == "openai" or npm == OPENAI_NPM:
        out["store"] = False
    if provider_id == "openai":
        out["promptCacheKey"] = session_id
    name = api_id.lower()
    if "gpt-5" in name and "gpt-5-chat" not in name and "codex" not in name and "gpt-5-pro" not in name:
        out["reasoningEffort"] = "medium"
    return out


def default_temperature(api_id: str) -> float | None:
    """The sampling temperature a family works best with, when the agent sets none."""
    name = api_id.lower()
    if "qwen" in name:
        return 0.55
    if "gemini" in name or "glm-4.6" in name or "glm-4.7" in name or "minimax-m2" in name:
        return 1.0
    if "kimi-k2" in name:
        return 1.0 if "thinking" in name else 0.6
    return None


def default_top_p(api_id: str) -> float | None:
    name = api_id.lower()
    if "qwen" in name:
        return 1.0
    if "minimax-m2" in name or "gemini" in name:
        return 0.95
    return None


def thinking_budget(npm: str, options: Mapping[str, Any]) -> int:
    """The thinking tokens an Anthropic call asks for on top of its `max_tokens` (0: none)."""
    thinking = options.get("thinking")
    if npm == ANTHROPIC_NPM and isinstance(thinking, Mapping) and thinking.get("type") == "enabled":
        return _int(thinking.get("budgetTokens"))
    return 0


def max_output_tokens(npm: str, model_limits: ModelLimits, options: Mapping[str, Any]) -> int | None:
    """The output tokens a call asks for: the model's output limit, at most OUTPUT_TOKEN_MAX; None
    when the limit is unknown. With Anthropic extended thinking the thinking budget comes on top of
    this on the wire, so text plus thinking stays within the model's limit."""
    cap = model_limits.output
    if not cap:
        return None
    standard = min(cap, OUTPUT_TOKEN_MAX)
    budget = thinking_budget(npm, options)
    if budget and budget + standard > cap:
        return max(1, cap - budget)
    return standard
