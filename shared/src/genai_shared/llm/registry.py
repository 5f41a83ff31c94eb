"""Build the configured providers and route model names to them.

Model names carry their route: `openai/<model>`, `anthropic/<model>`,
`openrouter/<vendor>/<model>`, `litellm/<provider>/<model>`, `mock/<model>`, or an alias
from LLM_MODEL_ALIASES that expands to one of those. A provider is configured when it has
a key or a base URL (litellm when any of openai/anthropic/openrouter is); the mock
provider always is, so the stack runs offline with no settings at all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass

import httpx
import httpx2

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import InvalidRequest
from genai_shared.llm.fallback import FallbackChain, Sleep, Target
from genai_shared.llm.pricing import PRICES
from genai_shared.llm.providers.mock_provider import MOCK_MODELS, MockProvider, MockScript
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import ChatRequest, ChatResponse, StreamEvent

logger = logging.getLogger(__name__)

PROVIDER_PREFIXES = ("openai", "anthropic", "openrouter", "litellm", "mock")
_NESTED_PREFIXES = frozenset({"openrouter", "litellm"})  # their model part is "<vendor>/<m>"


@dataclass(frozen=True)
class ModelInfo:
    """One entry of /v1/models."""

    id: str
    provider: str
    alias_for: str | None = None


def _catalog() -> dict[str, list[str]]:
    """Models we name (and price) per vendor, for list_models()."""
    anthropic = sorted(m for m in PRICES if m.startswith("claude"))
    openai = sorted(m for m in PRICES if not m.startswith("claude"))
    return {"openai": openai, "anthropic": anthropic}


class ProviderRegistry:
    def __init__(
        self,
        providers: Mapping[str, LLMProvider],
        *,
        aliases: Mapping[str, str] | None = None,
        default_model: str = "mock/echo-1",
        fallbacks: Sequence[str] = (),
        max_retry_wait: float = 5.0,
    ) -> None:
        self.providers = dict(providers)
        self.providers.setdefault("mock", MockProvider())
        self.aliases = dict(aliases or {})
        self.default_model = default_model
        self.fallbacks = list(fallbacks)
        self.max_retry_wait = max_retry_wait

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        http_client: httpx2.AsyncClient | None = None,
        litellm_http_client: httpx.AsyncClient | None = None,
        mock_script: MockScript | None = None,
    ) -> ProviderRegistry:
        """Build every configured provider. Injected HTTP clients stay the caller's to close."""
        providers: dict[str, LLMProvider] = {"mock": MockProvider(mock_script)}
        if settings.openai_configured():
            from genai_shared.llm.providers.openai_provider import OpenAIProvider

            providers["openai"] = OpenAIProvider.from_settings(settings, http_client=http_client)
        if settings.anthropic_configured():
            from genai_shared.llm.providers.anthropic_provider import AnthropicProvider

            providers["anthropic"] = AnthropicProvider.from_settings(
                settings, http_client=http_client
            )
        if settings.openrouter_configured():
            from genai_shared.llm.providers.openrouter_provider import OpenRouterProvider

            providers["openrouter"] = OpenRouterProvider.from_settings(
                settings, http_client=http_client
            )
        if any(name in providers for name in ("openai", "anthropic", "openrouter")):
            from genai_shared.llm.providers.litellm_provider import LiteLLMProvider

            providers["litellm"] = LiteLLMProvider.from_settings(
                settings, http_client=litellm_http_client
            )
        return cls(
            providers,
            aliases=settings.llm_model_aliases,
            default_model=settings.llm_default_model,
            fallbacks=settings.llm_fallbacks,
            max_retry_wait=settings.llm_max_retry_wait_seconds,
        )

    def __repr__(self) -> str:
        return (
            f"ProviderRegistry(providers={sorted(self.providers)}, default={self.default_model!r})"
        )

    def resolve(self, model: str | None = None) -> Target:
        """The provider and provider-native model name for a routed name or alias."""
        name = model or self.default_model
        name = self.aliases.get(name, name)
        prefix, _, rest = name.partition("/")
        if prefix not in PROVIDER_PREFIXES:
            raise InvalidRequest(
                f"unknown model {name!r}: use one of the prefixes "
                f"{', '.join(p + '/' for p in PROVIDER_PREFIXES)} or an alias",
                provider="registry",
            )
        if not rest or (prefix in _NESTED_PREFIXES and "/" not in rest.strip("/")):
            shape = (
                f"{prefix}/<vendor>/<model>" if prefix in _NESTED_PREFIXES else f"{prefix}/<model>"
            )
            raise InvalidRequest(f"model {name!r} must look like {shape}", provider="registry")
        provider = self.providers.get(prefix)
        if provider is None:
            raise InvalidRequest(
                f"provider {prefix!r} is not configured (set its API key or base URL)",
                provider="registry",
            )
        return Target(provider=provider, model=rest)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        target = self.resolve(request.model)
        return await target.provider.complete(request.model_copy(update={"model": target.model}))

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        target = self.resolve(request.model)
        return target.provider.stream(request.model_copy(update={"model": target.model}))

    def fallback_chain(
        self, model: str | None = None, *, sleep: Sleep | None = None
    ) -> FallbackChain:
        """`model` (or the default) then LLM_FALLBACKS; unconfigured fallbacks are skipped."""
        targets = [self.resolve(model)]
        for name in self.fallbacks:
            try:
                targets.append(self.resolve(name))
            except InvalidRequest as error:
                logger.warning("skipping fallback %r: %s", name, error.message)
        if sleep is None:
            return FallbackChain(targets, max_retry_wait=self.max_retry_wait)
        return FallbackChain(targets, max_retry_wait=self.max_retry_wait, sleep=sleep)

    def list_models(self) -> list[ModelInfo]:
        catalog = _catalog()
        models: list[ModelInfo] = [ModelInfo(id=f"mock/{m}", provider="mock") for m in MOCK_MODELS]
        for vendor in ("openai", "anthropic"):
            if vendor in self.providers:
                models += [ModelInfo(id=f"{vendor}/{m}", provider=vendor) for m in catalog[vendor]]
        for router in ("openrouter", "litellm"):
            if router not in self.providers:
                continue
            vendors = ("openai", "anthropic") if router == "openrouter" else _litellm_vendors(self)
            for vendor in vendors:
                models += [
                    ModelInfo(id=f"{router}/{vendor}/{m}", provider=router) for m in catalog[vendor]
                ]
        for alias, target in sorted(self.aliases.items()):
            provider = target.partition("/")[0]
            if provider in self.providers:
                models.append(ModelInfo(id=alias, provider=provider, alias_for=target))
        return models

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


def _litellm_vendors(registry: ProviderRegistry) -> tuple[str, ...]:
    return tuple(v for v in ("openai", "anthropic") if v in registry.providers)
