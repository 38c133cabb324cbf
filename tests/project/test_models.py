"""What wakeful knows of a model: limits from the config or the built-in table, variants, options."""

from __future__ import annotations

import pytest

from wakeful.project import models
from wakeful.project.models import ANTHROPIC_NPM, OPENAI_NPM, ModelLimits

COMPATIBLE = "@ai-sdk/openai-compatible"


@pytest.mark.parametrize(
    ("api_id", "context", "output"),
    [
        ("claude-sonnet-4-5-20250929", 200_000, 64_000),
        ("anthropic/claude-opus-4-1", 200_000, 32_000),
        ("gpt-4o-mini", 128_000, 16_384),
        ("o3", 200_000, 100_000),
        ("gpt-5-chat-latest", 128_000, 16_384),
        ("claude-mock", 0, 0),
        ("my-local-llama", 0, 0),
    ],
)
def test_well_known_models_have_built_in_limits(api_id: str, context: int, output: int) -> None:
    assert models.limits(api_id, {}) == ModelLimits(context=context, output=output)


def test_the_config_wins_limit_by_limit() -> None:
    raw = {"limit": {"context": 32_000}}
    assert models.limits("gpt-4o", raw) == ModelLimits(context=32_000, output=16_384)
    assert models.limits("local", {"limit": {"context": 8192, "output": 1024, "input": 7000}}) == ModelLimits(
        8192, 1024, 7000
    )


def test_variants_of_reasoning_models_merged_with_the_config() -> None:
    assert models.variants(COMPATIBLE, "mock-model", {}) == {}
    assert models.variants(COMPATIBLE, "qwen3", {"reasoning": True}) == {
        "low": {"reasoningEffort": "low"},
        "medium": {"reasoningEffort": "medium"},
        "high": {"reasoningEffort": "high"},
    }
    assert list(models.variants(OPENAI_NPM, "gpt-5", {})) == ["minimal", "low", "medium", "high"]
    configured = {
        "variants": {
            "high": {"thinking": {"budgetTokens": 8_000}},
            "max": {"disabled": True},
            "fast": {"temperature": 0},
        }
    }
    assert models.variants(ANTHROPIC_NPM, "claude-sonnet-4", configured) == {
        "high": {"thinking": {"type": "enabled", "budgetTokens": 8_000}},
        "fast": {"temperature": 0},
    }


def test_options_merge_later_winning_object_by_object() -> None:
    base = models.base_options("openai", OPENAI_NPM, "gpt-5", "ses_1")
    assert base == {"store": False, "promptCacheKey": "ses_1", "reasoningEffort": "medium"}
    merged = models.merge(base, {"reasoningEffort": "high", "extra": {"a": 1}})
    assert models.merge(merged, {"extra": {"b": 2}}) == {
        "store": False,
        "promptCacheKey": "ses_1",
        "reasoningEffort": "high",
        "extra": {"a": 1, "b": 2},
    }


def test_max_output_tokens_from_the_output_limit() -> None:
    assert models.max_output_tokens(COMPATIBLE, ModelLimits(8192, 1024), {}) == 1024
    assert models.max_output_tokens(COMPATIBLE, ModelLimits(400_000, 128_000), {}) == models.OUTPUT_TOKEN_MAX
    assert models.max_output_tokens(COMPATIBLE, ModelLimits(), {}) is None
    thinking = {"thinking": {"type": "enabled", "budgetTokens": 50_000}}
    assert models.max_output_tokens(ANTHROPIC_NPM, ModelLimits(200_000, 64_000), thinking) == 14_000
    assert models.thinking_budget(ANTHROPIC_NPM, thinking) == 50_000
    assert models.thinking_budget(COMPATIBLE, thinking) == 0
