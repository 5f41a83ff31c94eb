"""The metered gateway: the shared OpenAI rendering, with a budget and a ledger around it.

The wire format and its rendering are ``genai_shared.gateway``'s; what this project adds
is the money: the worst-case cost is reserved before the call, and every provider
attempt (fallbacks included) is settled into the usage ledger however the call ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio

from genai_shared.db.session import Database
from genai_shared.gateway.schemas import ChatCompletion, ChatCompletionRequest, ModelList
from genai_shared.gateway.service import (
    DONE,
    ChunkWriter,
    Gateway,
    error_chunk,
    replay_chunks,
    to_chat_completion,
)
from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import FallbackStream
from genai_shared.llm.http_errors import to_app_error
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.tokens import count_messages, count_text
from genai_shared.llm.types import ChatRequest, StreamEnd, TextDelta, Usage
from secure_chat_api.auth.dependencies import Principal
from secure_chat_api.core.database import transaction
from secure_chat_api.core.metrics import Metrics
from secure_chat_api.idempotency import service as idempotency
from secure_chat_api.llm.fallback import tracked_chain
from secure_chat_api.usage import service as usage_service
from secure_chat_api.usage.exceptions import BudgetExceeded
from secure_chat_api.usage.metering import Meter
from secure_chat_api.usage.models import CallStatus


def to_chat_request(body: ChatCompletionRequest, default_max_tokens: int) -> ChatRequest:
    """The provider-neutral request; max_tokens is always set, since the budget reserved
    for the call assumes it."""
    return ChatRequest(
        model=body.model,
        messages=[m.to_chat_message() for m in body.messages],
        max_tokens=body.max_completion_tokens or body.max_tokens or default_max_tokens,
        temperature=body.temperature,
        stop=body.stop_list(),
        tools=[t.to_spec() for t in body.tools] if body.tools else None,
    )


async def start_call(
    *,
    db: Database,
    registry: ProviderRegistry,
    metrics: Metrics,
    principal: Principal,
    request: ChatRequest,
    request_id: str | None,
    claim: idempotency.Claim | None = None,
) -> Meter:
    """Reserve the call's worst-case cost (402 when the budget cannot cover it)."""
    chain = tracked_chain(registry, request.model)
    assert request.max_tokens is not None
    try:
        async with transaction(db) as session:
            reservation = await usage_service.reserve(
                session=session,
                user_id=principal.user_id,
                amount_micro_usd=usage_service.worst_case_micro(
                    chain.targets, request.messages, request.max_tokens
                ),
                request_id=request_id,
            )
    except BudgetExceeded:
        metrics.budget_refusals.inc()
        raise
    return Meter(
        db=db,
        metrics=metrics,
        chain=chain,
        reservation=reservation,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        request_id=request_id,
        route="gateway",
        claim=claim,
    )


def _estimated(request: ChatRequest, text: str) -> Usage:
    return Usage(
        input_tokens=count_messages(request.messages),
        output_tokens=count_text(text) if text else 0,
    )


async def _settle_interrupted(meter: Meter, request: ChatRequest, text: str) -> None:
    with anyio.CancelScope(shield=True):
        await meter.settle(
            status=CallStatus.CANCELLED,
            usage=_estimated(request, text),
            usage_estimated=True,
            interrupted=True,
        )


async def complete(meter: Meter, request: ChatRequest, model: str) -> ChatCompletion:
    try:
        result = await meter.chain.complete(request)
    except ProviderError as error:
        await meter.settle(status=CallStatus.ERROR, usage=Usage(), error_type=type(error).__name__)
        raise to_app_error(error) from error
    except BaseException:
        await _settle_interrupted(meter, request, "")
        raise
    completion = to_chat_completion(result.response, model)
    await meter.settle(
        status=CallStatus.COMPLETE,
        usage=result.response.usage,
        result=idempotency.Result(200, completion.model_dump(mode="json")),
    )
    return completion


async def open_stream(
    meter: Meter, request: ChatRequest, body: ChatCompletionRequest
) -> AsyncIterator[bytes]:
    """Wait for the first event before answering, so an early failure is a real status."""
    stream = meter.chain.stream(request)
    try:
        first = await anext(stream)
    except ProviderError as error:
        await stream.aclose()
        await meter.settle(status=CallStatus.ERROR, usage=Usage(), error_type=type(error).__name__)
        raise to_app_error(error) from error
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        await _settle_interrupted(meter, request, "")
        raise
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return _chunks(meter, request, stream, first, body.model, include_usage)


async def _chunks(
    meter: Meter,
    request: ChatRequest,
    stream: FallbackStream,
    first: Any,
    model: str,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """OpenAI's chunk sequence: role, content deltas, finish, optional usage, ``[DONE]``.

    A failure mid-stream sends OpenAI's error object as a chunk and no ``[DONE]``, which
    the official SDK raises as an error instead of returning a short answer. Every way
    out settles the call into the ledger.
    """
    writer = ChunkWriter(model)
    parts: list[str] = []
    try:
        yield writer.role()
        event = first
        while True:
            if isinstance(event, TextDelta):
                parts.append(event.text)
                yield writer.content(event.text)
            elif isinstance(event, StreamEnd):
                sent = writer.completion("".join(parts), event.finish_reason, event.usage)
                with anyio.CancelScope(shield=True):
                    await meter.settle(
                        status=CallStatus.COMPLETE,
                        usage=event.usage,
                        result=idempotency.Result(200, sent.model_dump(mode="json")),
                    )
                yield writer.finish(event.finish_reason)
                if include_usage:
                    yield writer.usage(event.usage)
                yield DONE
                return
            event = await anext(stream)
    except ProviderError as error:
        with anyio.CancelScope(shield=True):
            await meter.settle(
                status=CallStatus.ERROR,
                usage=_estimated(request, "".join(parts)),
                usage_estimated=True,
                error_type=type(error).__name__,
            )
        yield error_chunk(error)
    except BaseException:
        if not meter.settled:
            await _settle_interrupted(meter, request, "".join(parts))
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()


async def replay_stream(stored: dict[str, Any], include_usage: bool) -> AsyncIterator[bytes]:
    """A finished streamed call sent again to a retry, from the completion it stored."""
    for chunk in replay_chunks(ChatCompletion.model_validate(stored), include_usage):
        yield chunk


def list_models(registry: ProviderRegistry) -> ModelList:
    return Gateway(registry, {}).list_models()
