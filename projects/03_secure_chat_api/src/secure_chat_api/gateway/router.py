"""An OpenAI-compatible gateway: point the official SDK at ``http://host:port/v1``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from genai_shared.web.errors import error_responses
from genai_shared.web.sse import EventStreamResponse
from secure_chat_api.gateway import service
from secure_chat_api.gateway.schemas import ChatCompletion, ChatCompletionRequest, ModelList
from secure_chat_api.llm import exceptions as llm_errors
from secure_chat_api.llm.dependencies import RegistryDep

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        **error_responses(
            llm_errors.UnknownModel,
            llm_errors.ProviderRateLimited,
            llm_errors.ProviderDown,
            llm_errors.ProviderTimedOut,
        ),
        200: {"content": {"text/event-stream": {}}},
    },
)
async def chat_completions(
    body: ChatCompletionRequest, registry: RegistryDep
) -> ChatCompletion | Response:
    """OpenAI Chat Completions over every configured provider (`provider/model` names)."""
    if body.stream:
        return EventStreamResponse(await service.open_stream(registry, body))
    return await service.complete(registry, body)


@router.get("/models", response_model=ModelList)
async def list_models(registry: RegistryDep) -> ModelList:
    return service.list_models(registry)
