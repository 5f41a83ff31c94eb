from __future__ import annotations

from fastapi import APIRouter, Request

from multi_provider_chat.llm import service
from multi_provider_chat.llm.dependencies import RegistryDep
from multi_provider_chat.llm.schemas import ProvidersResponse

router = APIRouter(prefix="/providers", tags=["providers"])


@router.get("", response_model=ProvidersResponse)
async def list_providers(request: Request, registry: RegistryDep) -> ProvidersResponse:
    """Configured providers and their models, and whether each has credentials (never the keys)."""
    return service.describe_providers(registry=registry, settings=request.app.state.settings)
