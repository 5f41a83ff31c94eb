"""``GET /providers``: which providers this server can route to (never their keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from genai_shared.llm.catalog import ProvidersResponse, describe_providers
from genai_shared.llm.dependencies import RegistryDep
from genai_shared.llm.settings import ProviderSettings

router = APIRouter(prefix="/providers", tags=["providers"])


async def get_provider_settings(request: Request) -> ProviderSettings:
    settings: ProviderSettings = request.app.state.settings
    return settings


ProviderSettingsDep = Annotated[ProviderSettings, Depends(get_provider_settings)]


@router.get("", response_model=ProvidersResponse)
async def list_providers(registry: RegistryDep, settings: ProviderSettingsDep) -> ProvidersResponse:
    """Configured providers and their models, and whether each has credentials (never the keys)."""
    return describe_providers(registry=registry, settings=settings)
