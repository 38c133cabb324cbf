"""Choose the adapter for a configured provider, and keep one instance (one HTTP client) per config."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Mapping
from typing import Any

from wakeful.project.catalog import SCRIPTED_NPM
from wakeful.project.models import ANTHROPIC_NPM
from wakeful.providers.base import Endpoint, Provider, Transport


def adapter_module(provider_id: str, npm: str | None) -> str:
    """The module of the adapter `build_provider` picks for this provider."""
    if npm == SCRIPTED_NPM or (npm is None and provider_id == "scripted"):
        return "wakeful.providers.scripted"
    if npm == ANTHROPIC_NPM or provider_id == "anthropic":
        return "wakeful.providers.anthropic"
    return "wakeful.providers.openai"


def build_provider(
    provider_id: str,
    options: Mapping[str, Any],
    *,
    npm: str | None,
    silence_timeout: float,
    max_connections: int,
    transport: Transport,
) -> Provider:
    """`options` is `provider.<id>.options` of opencode.json, with env references already resolved."""
    adapter = adapter_module(provider_id, npm)
    if adapter == "wakeful.providers.scripted":
        from wakeful.providers.scripted import ScriptedProvider

        return ScriptedProvider(provider_id, silence_timeout=silence_timeout)
    endpoint = Endpoint.from_options(
        options, silence_timeout=silence_timeout, max_connections=max_connections, transport=transport
    )
    # The SDKs take about a second to import: they load when first needed, in a thread (`imported`).
    if adapter == "wakeful.providers.anthropic":
        from wakeful.providers.anthropic import AnthropicProvider

        return AnthropicProvider(provider_id, endpoint)
    # every other package (@ai-sdk/openai, @ai-sdk/openai-compatible, ...) speaks chat completions
    from wakeful.providers.openai import OpenAIProvider

    return OpenAIProvider(provider_id, endpoint)


def _import_adapter(module: str) -> None:
    importlib.import_module(module)
    if module != "wakeful.providers.scripted":
        from wakeful.providers.tls import tls_context

        tls_context()


class ProviderPool:
    """One Provider per (provider id, package, options); a changed config gets a fresh one."""

    def __init__(self, *, silence_timeout: float, max_connections: int, transport: Transport) -> None:
        self._silence = silence_timeout
        self._max_connections = max_connections
        self._transport: Transport = transport
        self._providers: dict[str, Provider] = {}
        self._imports: dict[str, asyncio.Future[None]] = {}

    async def imported(self, provider_id: str, npm: str | None) -> None:
        """Import the provider's adapter (its SDK, about a second, and tens of MB) and build the
        TLS context, in a thread, the first time a run needs them: a server whose projects never
        name an SDK never loads it, and the event loop never stalls on it. Runs that arrive
        together wait for one import."""
        module = adapter_module(provider_id, npm)
        if module in sys.modules:
            return
        pending = self._imports.get(module)
        if pending is None:
            pending = self._imports[module] = asyncio.ensure_future(asyncio.to_thread(_import_adapter, module))
        await asyncio.shield(pending)

    def get(self, provider_id: str, options: Mapping[str, Any], *, npm: str | None = None) -> Provider:
        key = json.dumps([provider_id, npm, options], sort_keys=True, default=str)
        provider = self._providers.get(key)
        if provider is None:
            provider = build_provider(
                provider_id,
                options,
                npm=npm,
                silence_timeout=self._silence,
                max_connections=self._max_connections,
                transport=self._transport,
            )
            self._providers[key] = provider
        return provider

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()
