"""The model catalog of a project: the providers and models its opencode config declares.

`provider.<id>.options.baseURL|apiKey` (with `{env:VAR}` already substituted), `provider.<id>.npm`
(which wire API: `@ai-sdk/anthropic` means Anthropic Messages, `wakeful/scripted` the in-process
scripted model, anything else OpenAI-compatible chat completions; without `npm`, the ids `anthropic`
and `scripted` mean the first two), `provider.<id>.models.<model>`; top-level `model` and
`small_model` name defaults as "provider/model". Resolution errors are raised before a run starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wakeful.errors import InvalidRequestError
from wakeful.project import models
from wakeful.project.config import Derived, ProjectConfig
from wakeful.project.models import ANTHROPIC_NPM, ModelLimits

OPENAI_NPM = "@ai-sdk/openai-compatible"
SCRIPTED_NPM = "wakeful/scripted"  # not an npm package: wakeful's own model, which needs no key
_NPM_BY_ID = {"anthropic": ANTHROPIC_NPM, "scripted": SCRIPTED_NPM}


@dataclass
class ProviderEntry:
    id: str
    name: str
    npm: str
    options: dict[str, Any]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: list[str] = field(default_factory=list)
    key_declared: bool = False  # options.apiKey or env was given, so an empty key is a mistake

    @property
    def scripted(self) -> bool:
        return self.npm == SCRIPTED_NPM

    @property
    def api_key(self) -> str | None:
        key = self.options.get("apiKey")
        return str(key) if key else None

    @property
    def base_url(self) -> str | None:
        url = self.options.get("baseURL") or self.options.get("baseUrl")
        return str(url) if url else None

    def model_wire(self, model_id: str) -> dict[str, Any]:
        choice = ModelChoice(self, model_id)
        raw = choice.raw
        limit = choice.limits
        modalities = {
            "text": True,
            "audio": False,
            "image": bool(raw.get("attachment")),
            "video": False,
            "pdf": False,
        }
        return {
            "id": model_id,
            "providerID": self.id,
            "api": {"id": raw.get("id", model_id), "url": self.base_url or "", "npm": self.npm},
            "name": raw.get("name", model_id),
            "capabilities": {
                "temperature": choice.temperature_allowed,
                "reasoning": choice.reasoning,
                "attachment": bool(raw.get("attachment", False)),
                "toolcall": bool(raw.get("tool_call", True)),
                "input": modalities,
                "output": {"text": True, "audio": False, "image": False, "video": False, "pdf": False},
                "interleaved": False,
            },
            "cost": {"input": 0, "output": 0, "cache": {"read": 0, "write": 0}, **(raw.get("cost") or {})},
            "limit": {"context": limit.context, "output": limit.output, **({"input": limit.input} if limit.input else {})},
            "status": "active",
            "options": raw.get("options", {}),
            "headers": raw.get("headers", {}),
            "release_date": raw.get("release_date", ""),
            "variants": choice.variants,
        }

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "source": "config",
            "env": self.env,
            "options": {k: v for k, v in self.options.items() if k != "apiKey"},
            "models": {m: self.model_wire(m) for m in self.models},
        }


@dataclass(frozen=True)
class ModelChoice:
    provider: ProviderEntry
    model_id: str

    @property
    def raw(self) -> dict[str, Any]:
        """`provider.<id>.models.<model>` of opencode.json ({} for a model it does not list)."""
        return self.provider.models.get(self.model_id, {})

    @property
    def api_model(self) -> str:
        """The model name sent on the wire (`models.<id>.id` may rename it)."""
        return str(self.raw.get("id", self.model_id))

    @property
    def limits(self) -> ModelLimits:
        return models.limits(self.api_model, self.raw)

    @property
    def reasoning(self) -> bool:
        return models.reasoning(self.api_model, self.raw)

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        return models.variants(self.provider.npm, self.api_model, self.raw)

    @property
    def options(self) -> dict[str, Any]:
        """`models.<model>.options` of opencode.json."""
        options = self.raw.get("options")
        return dict(options) if isinstance(options, dict) else {}

    @property
    def temperature_allowed(self) -> bool:
        return bool(self.raw.get("temperature", True))


class Catalog:
    def __init__(self, config: ProjectConfig, environ: Mapping[str, str]) -> None:
        self.config = config
        self.providers: dict[str, ProviderEntry] = {}
        for pid, raw in config.section("provider").items():
            if not isinstance(raw, dict):
                continue
            options = dict(raw.get("options") or {})
            env_names = [str(e) for e in raw.get("env") or []]
            declared = "apiKey" in options or bool(env_names)
            if not options.get("apiKey"):
                for name in env_names:
                    if environ.get(name):
                        options["apiKey"] = environ[name]
                        break
            npm = str(raw.get("npm") or _NPM_BY_ID.get(pid, OPENAI_NPM))
            models = {
                str(k): (v if isinstance(v, dict) else {}) for k, v in (raw.get("models") or {}).items()
            }
            self.providers[pid] = ProviderEntry(
                pid, str(raw.get("name", pid)), npm, options, models, env_names, declared
            )

    def providers_wire(self) -> list[dict[str, Any]]:
        return [p.wire() for p in self.providers.values()]

    def defaults(self) -> dict[str, str]:
        out = {pid: next(iter(p.models)) for pid, p in self.providers.items() if p.models}
        configured = self.config.data.get("model")
        if isinstance(configured, str) and "/" in configured:
            pid, mid = configured.split("/", 1)
            if pid in self.providers:
                out[pid] = mid
        return out

    def connected(self) -> list[str]:
        return [pid for pid, p in self.providers.items() if p.api_key or p.base_url or p.scripted]

    def resolve(
        self, provider_id: str | None = None, model_id: str | None = None, *, fallback: str | None = None
    ) -> ModelChoice:
        """The model for a run: the request's, else `fallback` ("provider/model", e.g. the agent's),
        else the config's `model`, else the only configured model."""
        if provider_id is None or model_id is None:
            ref = fallback or self.config.data.get("model")
            if isinstance(ref, str) and "/" in ref:
                provider_id, model_id = ref.split("/", 1)
            else:
                every = [(pid, mid) for pid, p in self.providers.items() for mid in p.models]
                if len(every) != 1:
                    raise InvalidRequestError(self._no_model(len(every)), field="model")
                provider_id, model_id = every[0]
        provider = self.providers.get(provider_id)
        if provider is None:
            known = ", ".join(self.providers) or "none"
            raise InvalidRequestError(
                f"Unknown provider: {provider_id} (configured for {self.config.directory}: {known})",
                field="model.providerID",
            )
        if provider.models and model_id not in provider.models and not provider.scripted:
            raise InvalidRequestError(f"Unknown model: {provider_id}/{model_id}", field="model.modelID")
        if (
            not provider.api_key
            and not provider.scripted
            and (provider.key_declared or not provider.base_url)
        ):
            raise InvalidRequestError(
                f"Provider {provider_id} has no API key: set provider.{provider_id}.options.apiKey",
                field="model",
            )
        return ModelChoice(provider, model_id)

    def _no_model(self, configured: int) -> str:
        """Why no model could be chosen, where wakeful looked, and the two ways to name one."""
        config = self.config
        found = set(config.sources)
        searched = "; ".join(f"{p}{' (found)' if p in found else ''}" for p in config.searched)
        why = "no provider declares a model" if configured == 0 else f"{configured} models are configured"
        return (
            f"No model for a run in {config.directory}: the request names none, no config sets "
            f"`model`, and {why}. Config files searched: {searched or 'none'}. Set "
            '"model": "provider/model" in one of them (or in the file $OPENCODE_CONFIG names), or '
            'send "model": {"providerID": ..., "modelID": ...} with the prompt '
            "(wakeful run --model provider/model)."
        )


# The catalogs of the latest configs seen, so that a prompt does not rebuild every provider entry,
# nor keep a catalog of its own while it waits in a queue.
_CATALOGS: Derived[Catalog] = Derived()


def catalog_of(config: ProjectConfig, environ: Mapping[str, str]) -> Catalog:
    """The catalog of `config` with API keys from `environ`: shared by every caller, so never change
    one."""
    return _CATALOGS.get((config, environ), lambda: Catalog(config, environ))
