"""An OpenAI-compatible gateway: point the official SDK at ``http://host:port/v1``.

It takes the same credentials as the rest of the API: the SDK's ``api_key`` is sent as
``Authorization: Bearer``, so an API key of this service (scope ``chat``) just works.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from genai_shared.gateway.schemas import ChatCompletion, ChatCompletionRequest, ModelList
from genai_shared.llm import http_errors as llm_errors
from genai_shared.llm.dependencies import GatewayDep
from genai_shared.web.errors import UnprocessableEntity, error_responses
from genai_shared.web.request_id import current_request_id
from genai_shared.web.sse import EventStreamResponse
from secure_chat_api.auth.dependencies import PrincipalDep
from secure_chat_api.core.config import Settings
from secure_chat_api.gateway import service
from secure_chat_api.idempotency import service as idempotency
from secure_chat_api.idempotency.exceptions import (
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
)
from secure_chat_api.usage.exceptions import BudgetExceeded

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
models_router = APIRouter(prefix="/v1", tags=["openai-compatible"])


class RequestTooLarge(UnprocessableEntity):
    message = "The request asks for more than this server allows"


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        **error_responses(
            BudgetExceeded,
            RequestTooLarge,
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
    request: Request,
    principal: PrincipalDep,
    gateway: GatewayDep,
    idempotency_key: Annotated[str | None, Header(alias=idempotency.HEADER)] = None,
) -> ChatCompletion | Response:
    """OpenAI Chat Completions over every configured provider (`provider/model` names).

    Upstreams that speak the OpenAI format are relayed as bytes; the others are
    translated by their SDK adapters. Every call is metered: reserved, then settled.
    """
    settings: Settings = request.app.state.settings
    requested = body.max_completion_tokens or body.max_tokens
    if requested is not None and requested > settings.chat_max_tokens_cap:
        raise RequestTooLarge(details=[{"loc": ["body", "max_tokens"]}])
    if len(body.messages) > settings.gateway_max_messages:
        raise RequestTooLarge(details=[{"loc": ["body", "messages"]}])
    claim: idempotency.Claim | None = None
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    if idempotency_key is not None:
        outcome = await idempotency.begin(
            db=request.app.state.db,
            user_id=principal.user_id,
            key=idempotency_key,
            fingerprint=idempotency.request_hash(
                "gateway", body.model_dump(mode="json", exclude_unset=True)
            ),
            ttl_seconds=settings.idempotency_ttl_seconds,
        )
        if isinstance(outcome, idempotency.Replay):
            if body.stream:
                return EventStreamResponse(
                    service.replay_stream(outcome.body, include_usage),
                    headers=idempotency.REPLAYED,
                )
            return JSONResponse(
                outcome.body, status_code=outcome.status_code, headers=idempotency.REPLAYED
            )
        claim = outcome
    body = service.with_max_tokens(
        body, min(settings.llm_default_max_tokens, settings.chat_max_tokens_cap)
    )
    try:
        meter = await service.start_call(
            db=request.app.state.db,
            gateway=gateway,
            metrics=request.app.state.metrics,
            principal=principal,
            body=body,
            request_id=current_request_id(),
            claim=claim,
        )
        if body.stream:
            return EventStreamResponse(await service.open_stream(meter, gateway, body))
        answer = await service.complete(meter, gateway, body)
    except BaseException:
        if claim is not None:  # failed before the call settled (which releases it itself)
            with anyio.CancelScope(shield=True):
                await idempotency.release(db=request.app.state.db, claim=claim)
        raise
    return JSONResponse(answer) if isinstance(answer, dict) else answer


@models_router.get("/models", response_model=ModelList)
async def list_models(gateway: GatewayDep) -> ModelList:
    return gateway.list_models()
