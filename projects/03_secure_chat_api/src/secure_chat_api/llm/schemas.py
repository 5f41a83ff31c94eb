from __future__ import annotations

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
