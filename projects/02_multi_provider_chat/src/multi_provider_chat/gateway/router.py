"""An OpenAI-compatible gateway: point the official SDK at ``http://host:port/v1``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from genai_shared.web.errors import error_responses
from genai_shared.web.sse import EventStreamResponse
from multi_provider_chat.gateway import service
from multi_provider_chat.gateway.schemas import ChatCompletion, ChatCompletionRequest, ModelList
from multi_provider_chat.llm import exceptions as llm_errors
from multi_provider_chat.llm.dependencies import RegistryDep

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
    body: ChatCompletionRequest, request: Request, registry: RegistryDep
) -> ChatCompletion | Response:
    """OpenAI Chat Completions over every configured provider (`provider/model` names).

    Upstreams that speak the OpenAI format themselves are relayed as bytes; the others
    (Anthropic, the mock, LiteLLM routes) are translated by their SDK adapters.
    """
    relays = request.app.state.relays
    if body.stream:
        return EventStreamResponse(await service.open_stream(registry, relays, body))
    answer = await service.complete(registry, relays, body)
    if isinstance(answer, dict):
        return JSONResponse(answer)
    return answer


@router.get("/models", response_model=ModelList)
async def list_models(registry: RegistryDep) -> ModelList:
    return service.list_models(registry)
