"""An OpenAI-compatible gateway: point the official SDK at ``http://host:port/v1``.

It takes the same credentials as the rest of the API: the SDK's ``api_key`` is sent as
``Authorization: Bearer``, so an API key of this service (scope ``chat``) just works.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from genai_shared.gateway.schemas import ChatCompletion, ChatCompletionRequest, ModelList
from genai_shared.llm import http_errors as llm_errors
from genai_shared.llm.dependencies import GatewayDep
from genai_shared.web.dependencies import DatabaseDep
from genai_shared.web.errors import error_responses
from genai_shared.web.request_id import current_request_id
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.core.config import SettingsDep
from production_deployment.core.metrics import MetricsDep
from production_deployment.gateway import service
from production_deployment.gateway.exceptions import TooManyMessages
from production_deployment.idempotency.dependencies import IdempotencyKeyHeader
from production_deployment.idempotency.exceptions import (
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
)
from production_deployment.usage.dependencies import MeteringDep
from production_deployment.usage.exceptions import BudgetExceeded

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
models_router = APIRouter(prefix="/v1", tags=["openai-compatible"])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        **error_responses(
            BudgetExceeded,
            llm_errors.MaxTokensTooLarge,
            TooManyMessages,
            llm_errors.UnknownModel,
            llm_errors.ProviderRateLimited,
            llm_errors.ProviderDown,
            llm_errors.ProviderTimedOut,
            IdempotencyKeyReused,
            IdempotentRequestInProgress,
        ),
        200: {"content": {"text/event-stream": {}}},
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    principal: PrincipalDep,
    db: DatabaseDep,
    gateway: GatewayDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    metering: MeteringDep,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ChatCompletion | Response:
    """OpenAI Chat Completions over every configured provider (`provider/model` names).

    Upstreams that speak the OpenAI format are relayed as bytes; the others are
    translated by their SDK adapters. Every call is metered: reserved, then settled.
    """
    return await service.chat_completion(
        db=db,
        metering=metering,
        gateway=gateway,
        metrics=metrics,
        settings=settings,
        principal=principal,
        body=body,
        idempotency_key=idempotency_key,
        request_id=current_request_id(),
        scope=request.scope,
    )


@models_router.get("/models", response_model=ModelList)
async def list_models(gateway: GatewayDep) -> ModelList:
    return gateway.list_models()
