"""What the configured providers are, for people (``/api/v1/providers``) and for ``/v1/models``.

Keys are never shown, nor any ``user:password@`` part of a base URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from genai_shared.llm.registry import PROVIDER_PREFIXES, ProviderRegistry
from genai_shared.llm.settings import ProviderSettings
from genai_shared.schemas import CustomModel


class ProviderInfo(CustomModel):
    name: str
    configured: bool
    has_credentials: bool
    base_url: str | None
    models: list[str]


class ProvidersResponse(CustomModel):
    default_model: str
    fallbacks: list[str]
    providers: list[ProviderInfo]


def _without_userinfo(url: str | None) -> str | None:
    """A base URL as safe to show: any ``user:password@`` part is dropped."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _credentials(settings: ProviderSettings) -> dict[str, tuple[bool, str | None]]:
    return {
        "openai": (settings.openai_api_key is not None, settings.openai_base_url),
        "anthropic": (settings.anthropic_api_key is not None, settings.anthropic_base_url),
        "openrouter": (settings.openrouter_api_key is not None, settings.openrouter_base_url),
        "litellm": (
            any(
                key is not None
                for key in (
                    settings.openai_api_key,
                    settings.anthropic_api_key,
                    settings.openrouter_api_key,
                )
            ),
            None,
        ),
        "mock": (True, None),
    }


def describe_providers(
    *, registry: ProviderRegistry, settings: ProviderSettings
) -> ProvidersResponse:
    """Every provider we can route to, whether it is configured, and its models."""
    models_by_provider: dict[str, list[str]] = {}
    for model in registry.list_models():
        models_by_provider.setdefault(model.provider, []).append(model.id)
    credentials = _credentials(settings)
    return ProvidersResponse(
        default_model=registry.default_model,
        fallbacks=list(registry.fallbacks),
        providers=[
            ProviderInfo(
                name=name,
                configured=name in registry.providers,
                has_credentials=credentials[name][0],
                base_url=_without_userinfo(credentials[name][1]),
                models=models_by_provider.get(name, []),
            )
            for name in PROVIDER_PREFIXES
        ],
    )
