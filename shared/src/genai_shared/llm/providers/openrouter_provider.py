"""OpenRouter: the OpenAI wire format at its own base URL.

OpenRouter asks apps to identify themselves with `HTTP-Referer` and `X-Title`; model
names are `<vendor>/<model>` (`openai/gpt-4o`, `anthropic/claude-haiku-4-5`).
"""

from __future__ import annotations

import httpx2

from genai_shared.llm.providers.openai_provider import OpenAIProvider
from genai_shared.llm.settings import ProviderSettings


class OpenRouterProvider(OpenAIProvider):
    name = "openrouter"
    max_tokens_field = "max_tokens"

    @classmethod
    def from_settings(
        cls, settings: ProviderSettings, *, http_client: httpx2.AsyncClient | None = None
    ) -> OpenRouterProvider:
        key = settings.openrouter_api_key
        return cls(
            api_key=key.get_secret_value() if key else None,
            base_url=settings.openrouter_base_url,
            timeout_seconds=settings.llm_timeout_seconds,
            connect_timeout_seconds=settings.llm_connect_timeout_seconds,
            http_client=http_client,
            default_headers={
                "HTTP-Referer": settings.openrouter_site_url,
                "X-Title": settings.openrouter_app_name,
            },
        )
