"""The metered gateway: the shared gateway, with a budget and a ledger around it.

Translation, the byte relay to OpenAI-format upstreams, failover and the streaming rules
are ``genai_shared.gateway``'s; what this project adds is the money. The worst-case cost
is reserved before the call; the ``CallRecord`` the shared gateway fills in is settled
into the usage ledger however the call ends (one row per provider attempt, fallbacks
included), together with the response an ``Idempotency-Key`` keeps for retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from fastapi import Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from genai_shared.db.session import Database
from genai_shared.gateway.schemas import ChatCompletion, ChatCompletionRequest
from genai_shared.gateway.service import ChunkWriter, Gateway, replay_chunks
from genai_shared.llm.calls import CallRecord, Outcome
from genai_shared.llm.http_errors import check_max_tokens
from genai_shared.web.sse import EventStreamResponse
from production_deployment.auth.dependencies import Principal
from production_deployment.core.config import Settings
from production_deployment.core.metrics import Metrics
from production_deployment.gateway.exceptions import TooManyMessages
from production_deployment.idempotency import service as idempotency
from production_deployment.ratelimit.dependencies import SCOPE_KEY as RATE_LIMIT_SCOPE_KEY
from production_deployment.usage import service as usage_service
from production_deployment.usage.exceptions import BudgetExceeded
from production_deployment.usage.redis_metering import Admitted, RateRule, RedisMetering
from production_deployment.usage.service import Meter, Reservation


async def chat_completion(
    *,
    db: Database,
    metering: RedisMetering | None,
    gateway: Gateway,
    metrics: Metrics,
    settings: Settings,
    principal: Principal,
    body: ChatCompletionRequest,
    idempotency_key: str | None,
    request_id: str | None,
    scope: MutableMapping[str, Any] | None = None,
) -> ChatCompletion | Response:
    """One metered gateway call, whole or streamed, at most once per ``Idempotency-Key``.

    ``scope`` (the request's): where the hot path leaves its rate-limit decision for the
    ``RateLimit-*`` headers."""
    check_max_tokens(
        body.max_completion_tokens or body.max_tokens, cap=settings.chat_max_tokens_cap
    )
    if len(body.messages) > settings.gateway_max_messages:
        raise TooManyMessages(details=[{"loc": ["body", "messages"]}])
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    async with idempotency.guard(
        db=db,
        user_id=principal.user_id,
        key=idempotency_key,
        route="gateway",
        body=body.model_dump(mode="json", exclude_unset=True) if idempotency_key else None,
        ttl_seconds=settings.idempotency_ttl_seconds,
    ) as guard:
        if guard.stored is not None:
            return replay(guard.stored, stream=body.stream, include_usage=include_usage)
        body = with_max_tokens(
            body, min(settings.llm_default_max_tokens, settings.chat_max_tokens_cap)
        )
        meter = await start_call(
            db=db,
            metering=metering,
            gateway=gateway,
            metrics=metrics,
            principal=principal,
            body=body,
            request_id=request_id,
            claim=guard.claim,
            rate=RateRule(
                key=f"user:{principal.user_id}:POST:/v1/chat/completions",
                limit=settings.rate_limit_chat,
                window_seconds=settings.rate_limit_window_seconds,
            ),
            scope=scope,
        )
        if body.stream:
            return EventStreamResponse(await open_stream(meter, gateway, body))
        answer = await complete(meter, gateway, body)
    return JSONResponse(answer) if isinstance(answer, dict) else answer


def with_max_tokens(body: ChatCompletionRequest, default_max_tokens: int) -> ChatCompletionRequest:
    """The request with ``max_tokens`` always set: the budget reserved for the call assumes
    it, so the upstream must be held to it too."""
    if body.max_completion_tokens or body.max_tokens:
        return body
    return body.model_copy(update={"max_tokens": default_max_tokens})


async def start_call(
    *,
    db: Database,
    metering: RedisMetering | None,
    gateway: Gateway,
    metrics: Metrics,
    principal: Principal,
    body: ChatCompletionRequest,
    request_id: str | None,
    claim: idempotency.Claim | None = None,
    rate: RateRule | None = None,
    scope: MutableMapping[str, Any] | None = None,
) -> Meter:
    """Reserve the call's worst-case cost (402 when the budget cannot cover it)."""
    max_tokens = body.max_completion_tokens or body.max_tokens
    assert max_tokens is not None
    worst_case = usage_service.worst_case_micro(
        gateway.targets(body.model), [m.to_chat_message() for m in body.messages], max_tokens
    )
    reservation: Reservation | Admitted
    try:
        if metering is not None:
            # The hot path: the rate limit and the reservation in one Redis round trip
            # (the router's rate-limit dependency stands aside for it).
            admitted = await metering.admit(
                user_id=principal.user_id,
                amount_micro_usd=worst_case,
                budget_micro_usd=principal.user.monthly_budget_micro_usd,
                rate=rate,
            )
            if scope is not None and admitted.decision is not None:
                scope[RATE_LIMIT_SCOPE_KEY] = admitted.decision
            reservation = admitted
        else:
            async with db.transaction() as session:
                reservation = await usage_service.reserve(
                    session=session,
                    user_id=principal.user_id,
                    amount_micro_usd=worst_case,
                    request_id=request_id,
                )
    except BudgetExceeded:
        metrics.budget_refusals.inc()
        raise
    return Meter(
        db=db,
        metrics=metrics,
        reservation=reservation,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        request_id=request_id,
        route="gateway",
        claim=claim,
        metering=metering,
    )


async def complete(
    meter: Meter, gateway: Gateway, body: ChatCompletionRequest
) -> ChatCompletion | dict[str, Any]:
    """A whole answer; the call is settled before it is returned, failed ones too."""
    record = CallRecord()
    try:
        answer = await gateway.complete(body, record)
    except BaseException:
        await meter.settle(record)
        raise
    # The response is kept only for an Idempotency-Key's retries: without one, no copy.
    kept = idempotency.StoredResponse(200, jsonable_encoder(answer)) if meter.claim else None
    await meter.settle(record, response=kept)
    return answer


async def open_stream(
    meter: Meter, gateway: Gateway, body: ChatCompletionRequest
) -> AsyncIterator[bytes]:
    """The stream; settled once it ends, with what it sent kept for idempotent retries."""

    async def on_end(record: CallRecord) -> None:
        kept = None
        complete_reply = record.outcome is Outcome.COMPLETE
        if meter.claim is not None and complete_reply and record.finish_reason is not None:
            writer = ChunkWriter(body.model, id=record.completion_id, created=record.created)
            sent = writer.completion(record.text, record.finish_reason, record.usage)
            kept = idempotency.StoredResponse(200, sent.model_dump(mode="json"))
        await meter.settle(record, response=kept)

    return await gateway.open_stream(body, on_end=on_end)


def replay(stored: idempotency.StoredResponse, *, stream: bool, include_usage: bool) -> Response:
    """The first call's response sent again to a retry: the same JSON, or the same
    completion as a stream of chunks. Nothing is asked or charged again."""
    if not stream:
        return JSONResponse(
            stored.body, status_code=stored.status_code, headers=idempotency.REPLAYED
        )
    chunks = replay_chunks(ChatCompletion.model_validate(stored.body), include_usage)
    return EventStreamResponse(_each(chunks), headers=idempotency.REPLAYED)


async def _each(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
