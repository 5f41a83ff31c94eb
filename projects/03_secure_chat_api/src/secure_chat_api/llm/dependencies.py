from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from genai_shared.gateway.service import Gateway
from genai_shared.llm.registry import ProviderRegistry


async def get_registry(request: Request) -> ProviderRegistry:
    registry: ProviderRegistry = request.app.state.llm
    return registry


RegistryDep = Annotated[ProviderRegistry, Depends(get_registry)]


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
