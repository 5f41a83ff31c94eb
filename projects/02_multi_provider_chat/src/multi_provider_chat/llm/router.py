from __future__ import annotations

from fastapi import APIRouter, Request

from genai_shared.llm.catalog import ProvidersResponse, describe_providers
from multi_provider_chat.llm.dependencies import RegistryDep

router = APIRouter(prefix="/providers", tags=["providers"])


@router.get("", response_model=ProvidersResponse)
async def list_providers(request: Request, registry: RegistryDep) -> ProvidersResponse:
    """Configured providers and their models, and whether each has credentials (never the keys)."""
    return describe_providers(registry=registry, settings=request.app.state.settings)
