"""Choose the adapter for a configured provider, and keep one instance (one HTTP client) per config."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from wakeful.project.catalog import SCRIPTED_NPM
from wakeful.project.models import ANTHROPIC_NPM
from wakeful.providers.base import Endpoint, Provider, Transport


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
    if npm == SCRIPTED_NPM or (npm is None and provider_id == "scripted"):
        from wakeful.providers.scripted import ScriptedProvider

        return ScriptedProvider(provider_id, silence_timeout=silence_timeout)
    endpoint = Endpoint.from_options(
        options, silence_timeout=silence_timeout, max_connections=max_connections, transport=transport
    )
    # The SDKs take about a second to import: they load when first needed (or warmed in a thread).
    if npm == ANTHROPIC_NPM or provider_id == "anthropic":
        from wakeful.providers.anthropic import AnthropicProvider

        return AnthropicProvider(provider_id, endpoint)
    # every other package (@ai-sdk/openai, @ai-sdk/openai-compatible, ...) speaks chat completions
    from wakeful.providers.openai import OpenAIProvider

    return OpenAIProvider(provider_id, endpoint)


def warm_imports() -> None:
    """Import both adapters (and their SDKs) and load the TLS context they share; run in a thread
    at start-up so that the first prompt does not stall the event loop."""
    import wakeful.providers.anthropic
    import wakeful.providers.openai  # noqa: F401
    from wakeful.providers.http import tls_context

    tls_context()


class ProviderPool:
    """One Provider per (provider id, package, options); a changed config gets a fresh one."""

    def __init__(self, *, silence_timeout: float, max_connections: int, transport: Transport) -> None:
        self._silence = silence_timeout
        self._max_connections = max_connections
        self._transport: Transport = transport
        self._providers: dict[str, Provider] = {}

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
