"""Unit tests of wakeful.project.catalog: providers and models from opencode config, and model resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.errors import InvalidRequestError
from wakeful.project.catalog import ANTHROPIC_NPM, SCRIPTED_NPM, Catalog, catalog_of
from wakeful.project.config import ProjectConfig

PROVIDERS = {
    "mock": {"options": {"baseURL": "http://x/v1", "apiKey": "k"}, "models": {"a": {}, "b": {"id": "wire-b"}}},
    "anthropic": {"options": {}, "env": ["ANTHROPIC_API_KEY"], "models": {"claude": {}}},
    "local": {"options": {"baseURL": "http://localhost:11434/v1"}, "models": {"llama": {}}},
    "declared": {"options": {"baseURL": "http://y/v1", "apiKey": ""}, "models": {"m": {}}},
}


def catalog(environ: dict[str, str] | None = None, **data: object) -> Catalog:
    return Catalog(ProjectConfig(Path("/tmp"), {"provider": PROVIDERS, **data}, ()), environ or {})


def test_resolution_order() -> None:
    c = catalog(model="mock/b")
    assert (c.resolve().provider.id, c.resolve().model_id) == ("mock", "b")
    assert c.resolve().api_model == "wire-b"
    assert c.resolve(fallback="mock/a").model_id == "a"
    assert c.resolve("local", "llama").model_id == "llama"  # a local server needs no key


def test_keys_from_env_and_wire_api() -> None:
    c = catalog({"ANTHROPIC_API_KEY": "sk"})
    choice = c.resolve("anthropic", "claude")
    assert choice.provider.api_key == "sk" and choice.provider.npm == ANTHROPIC_NPM
    assert c.providers["mock"].npm != ANTHROPIC_NPM
    assert set(c.connected()) == {"mock", "anthropic", "local", "declared"}


@pytest.mark.parametrize(
    ("provider", "model", "field"),
    [
        ("nope", "a", "model.providerID"),
        ("mock", "nope", "model.modelID"),
        ("anthropic", "claude", "model"),  # env key not set
        ("declared", "m", "model"),  # apiKey given but empty
    ],
)
def test_refusals(provider: str, model: str, field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        catalog().resolve(provider, model)
    assert info.value.field == field


def test_no_default_when_ambiguous() -> None:
    with pytest.raises(InvalidRequestError):
        catalog().resolve()


def test_wire_shapes() -> None:
    c = catalog(model="mock/b")
    assert c.defaults()["mock"] == "b" and c.defaults()["local"] == "llama"
    wire = {p["id"]: p for p in c.providers_wire()}
    assert "apiKey" not in wire["mock"]["options"]
    model = wire["mock"]["models"]["b"]
    assert model["api"] == {"id": "wire-b", "url": "http://x/v1", "npm": "@ai-sdk/openai-compatible"}


def test_the_scripted_model_needs_no_key_and_takes_any_model_name() -> None:
    scripted = {"scripted": {}, "team-fake": {"npm": "wakeful/scripted", "models": {"listed": {}}}}
    c = Catalog(ProjectConfig(Path("/tmp"), {"provider": scripted}, ()), {})
    assert c.providers["scripted"].npm == SCRIPTED_NPM and c.providers["scripted"].scripted
    assert c.resolve("scripted", "anything").model_id == "anything"
    assert c.resolve("team-fake", "unlisted").provider.id == "team-fake"
    assert set(c.connected()) == {"scripted", "team-fake"}


def test_a_config_has_one_catalog_which_a_changed_config_or_environment_replaces() -> None:
    config = ProjectConfig(Path("/tmp"), {"provider": PROVIDERS}, ())
    environ = {"ANTHROPIC_API_KEY": "sk-1"}
    first = catalog_of(config, environ)
    assert catalog_of(config, environ) is first
    assert first.providers["anthropic"].options["apiKey"] == "sk-1"
    changed = ProjectConfig(Path("/tmp"), {"provider": {"mock": PROVIDERS["mock"]}}, ())
    assert set(catalog_of(changed, environ).providers) == {"mock"}
    other = catalog_of(config, {"ANTHROPIC_API_KEY": "sk-2"})
    assert other is not first and other.providers["anthropic"].options["apiKey"] == "sk-2"
