"""The provider registry and the gateway: opened in the lifespan, taken as dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, Request

from genai_shared.gateway.service import Gateway
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.relay import OpenAIRelay
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.tokens import encoding_for


async def get_registry(request: Request) -> ProviderRegistry:
    registry: ProviderRegistry = request.app.state.llm
    return registry


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


RegistryDep = Annotated[ProviderRegistry, Depends(get_registry)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]


@asynccontextmanager
async def llm_resources(
    app: FastAPI, settings: ProviderSettings, registry: ProviderRegistry | None = None
) -> AsyncIterator[Gateway]:
    """Open the providers (or use ``registry``, which the caller owns and closes) and the
    gateway over them; publish both on ``app.state``; close what was opened here."""
    # The default model's tokenizer is read from disk now (a few hundred milliseconds),
    # not by the first call that reserves a budget or trims a history.
    await anyio.to_thread.run_sync(encoding_for, settings.llm_default_model)
    llm = registry or ProviderRegistry.from_settings(settings)
    app.state.llm = llm
    app.state.gateway = gateway = Gateway(llm, OpenAIRelay.all_configured(settings))
    try:
        yield gateway
    finally:
        await gateway.aclose()
        if registry is None:
            await llm.aclose()
