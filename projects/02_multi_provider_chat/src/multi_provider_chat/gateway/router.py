"""An OpenAI-compatible gateway: point the official SDK at ``http://host:port/v1``.

The service (translation, relaying, failover, streaming rules) is shared:
``genai_shared.gateway``. This router only wires it to the app.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from genai_shared.gateway.schemas import ChatCompletion, ChatCompletionRequest, ModelList
from genai_shared.llm import http_errors
from genai_shared.llm.dependencies import GatewayDep
from genai_shared.web.errors import error_responses
from genai_shared.web.sse import EventStreamResponse

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        **error_responses(
            http_errors.UnknownModel,
            http_errors.ProviderRateLimited,
            http_errors.ProviderDown,
            http_errors.ProviderTimedOut,
        ),
        200: {"content": {"text/event-stream": {}}},
    },
)
async def chat_completions(
    body: ChatCompletionRequest, gateway: GatewayDep
) -> ChatCompletion | Response:
    """OpenAI Chat Completions over every configured provider (`provider/model` names).

    Upstreams that speak the OpenAI format themselves are relayed as bytes; the others
    (Anthropic, the mock, LiteLLM routes) are translated by their SDK adapters.
    """
    if body.stream:
        return EventStreamResponse(await gateway.open_stream(body))
    answer = await gateway.complete(body)
    return JSONResponse(answer) if isinstance(answer, dict) else answer


@router.get("/models", response_model=ModelList)
async def list_models(gateway: GatewayDep) -> ModelList:
    return gateway.list_models()
