"""A chat turn: check the budget, store the user's message, ask the model, store the reply.

Each step is its own short transaction, because the provider call in the middle can
take a minute and must never hold a database transaction open:

1. the user's message is committed before the provider is called, so it is never lost,
   together with the reservation of the call's worst-case cost (over budget: 402, and
   nothing is stored);
2. for a stream, an assistant row in status ``streaming`` is committed once the first
   event has arrived, and updated when the stream ends;
3. the reply is stored with the provider and model that answered, token usage, cost and
   latency, and in the same transaction the reservation is settled into the usage
   ledger (one row per provider call, fallbacks included); a failed, broken or
   abandoned call is stored and settled too, as ``error`` or ``cancelled``, with usage
   counted here when the provider never sent it.

A turn sent with an ``Idempotency-Key`` stores its response (for a stream: the events
it sent) in that last transaction too, so a retry can replay it; see ``idempotency``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi.encoders import jsonable_encoder

from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.chat.schemas import ChatMessagePublic as MessagePublic
from genai_shared.chat.schemas import (
    ChatTurnRequest,
    ChatTurnResponse,
    MessageStatus,
)
from genai_shared.chat.turns import ChatTurns, Reply, reply_values
from genai_shared.db.session import Database
from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import FallbackStream
from genai_shared.llm.http_errors import to_app_error
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.tokens import count_messages, count_text
from genai_shared.llm.turn_stream import TurnEnd, done_payload, stream_turn
from genai_shared.llm.types import ChatRequest, StreamEvent, Usage
from genai_shared.web.sse import sse_event
from secure_chat_api.auth.dependencies import Principal
from secure_chat_api.chat.exceptions import ConversationNotFound
from secure_chat_api.chat.models import Conversation, Message
from secure_chat_api.core.metrics import Metrics
from secure_chat_api.idempotency import service as idempotency
from secure_chat_api.llm.fallback import TrackedChain, tracked_chain
from secure_chat_api.usage import service as usage_service
from secure_chat_api.usage.exceptions import BudgetExceeded
from secure_chat_api.usage.metering import Ending, Meter
from secure_chat_api.usage.models import CallStatus

logger = logging.getLogger(__name__)
TURNS = ChatTurns(Conversation, Message)

_CALL_STATUS = {
    MessageStatus.COMPLETE: CallStatus.COMPLETE,
    MessageStatus.ERROR: CallStatus.ERROR,
    MessageStatus.CANCELLED: CallStatus.CANCELLED,
}


@dataclass
class Turn:
    """Everything about one turn that the steps share."""

    db: Database
    conversations_cache: RecentConversationsCache
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    request: ChatRequest
    chain: TrackedChain
    meter: Meter
    user_message: Message
    started: float = field(default_factory=time.perf_counter)

    def latency_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    async def invalidate_cache(self) -> None:
        try:
            await self.conversations_cache.invalidate(self.user_id)
        except Exception:
            logger.warning("could not invalidate the conversations cache", exc_info=True)


async def start_turn(
    *,
    db: Database,
    conversations_cache: RecentConversationsCache,
    registry: ProviderRegistry,
    metrics: Metrics,
    principal: Principal,
    conversation_id: uuid.UUID,
    data: ChatTurnRequest,
    history_limit: int,
    default_max_tokens: int,
    request_id: str | None,
    claim: idempotency.Claim | None = None,
) -> Turn:
    """Check the model, then, in one transaction, store the user's message, read the
    history to send and reserve the call's worst-case cost."""
    routed = data.routed_model() or registry.default_model
    chain = tracked_chain(registry, routed)
    max_tokens = data.max_tokens or default_max_tokens

    try:
        async with db.transaction() as session:
            stored = await TURNS.add_user_message(
                session,
                conversation_id=conversation_id,
                content=data.content,
                history_limit=history_limit,
                owner_id=principal.user_id,
            )
            if stored is None:
                raise ConversationNotFound
            history = stored.history
            reservation = await usage_service.reserve(
                session=session,
                user_id=principal.user_id,
                amount_micro_usd=usage_service.worst_case_micro(chain.targets, history, max_tokens),
                request_id=request_id,
            )
    except BudgetExceeded:
        metrics.budget_refusals.inc()
        raise

    turn = Turn(
        db=db,
        conversations_cache=conversations_cache,
        conversation_id=conversation_id,
        user_id=principal.user_id,
        request=ChatRequest(
            model=routed,
            messages=history,
            max_tokens=max_tokens,
            temperature=data.temperature,
        ),
        chain=chain,
        meter=Meter(
            db=db,
            metrics=metrics,
            reservation=reservation,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            request_id=request_id,
            route="chat",
            conversation_id=conversation_id,
            claim=claim,
        ),
        user_message=stored.message,
    )
    await turn.invalidate_cache()
    return turn


def _estimated_usage(turn: Turn, text: str) -> Usage:
    """Usage counted locally, for calls whose provider never reported it."""
    return Usage(
        input_tokens=count_messages(turn.request.messages),
        output_tokens=count_text(text) if text else 0,
    )


async def _save_reply(
    turn: Turn,
    *,
    message_id: uuid.UUID | None,
    reply: Reply,
    interrupted: bool = False,
    respond: Callable[[Message], idempotency.Result] | None = None,
) -> Message:
    """Insert the assistant row, or update the ``streaming`` one, in its own transaction;
    a final status also settles the call's reservation into the ledger, atomically, with
    ``respond(message)`` kept for idempotent retries when the turn is complete."""
    final = turn.chain.final_index(interrupted=interrupted)
    target = turn.chain.targets[final]
    provider, model = target.provider.name, target.model
    values = reply_values(reply, provider=provider, model=model, latency_ms=turn.latency_ms())
    async with turn.db.transaction() as session:
        message = await TURNS.save_reply(
            session, conversation_id=turn.conversation_id, message_id=message_id, values=values
        )
        if reply.status in _CALL_STATUS:
            ending = Ending(
                status=_CALL_STATUS[reply.status],
                provider=provider,
                model=model,
                usage=reply.usage or Usage(),
                failed_over=turn.chain.attempts[:final],
                usage_estimated=reply.usage_estimated,
                error_type=reply.error_type,
            )
            complete = reply.status is MessageStatus.COMPLETE
            await turn.meter.settle_in(
                session,
                ending,
                message_id=message.id,
                result=respond(message) if respond and complete else None,
            )
    await turn.invalidate_cache()
    return message


async def complete_turn(turn: Turn) -> ChatTurnResponse:
    """Ask the model for the whole reply at once (with fallbacks) and store it."""
    try:
        result = await turn.chain.complete(turn.request)
    except ProviderError as error:
        await _save_reply(
            turn,
            message_id=None,
            reply=Reply(
                content="",
                status=MessageStatus.ERROR,
                usage=Usage(),
                error_type=type(error).__name__,
            ),
        )
        raise to_app_error(error) from error
    except BaseException:
        # Cancelled (server shutting down) or a bug: never leave the reservation behind.
        with anyio.CancelScope(shield=True):
            await _save_reply(
                turn,
                message_id=None,
                interrupted=True,
                reply=Reply(
                    content="",
                    status=MessageStatus.CANCELLED,
                    usage=_estimated_usage(turn, ""),
                    usage_estimated=True,
                ),
            )
        raise
    reply = result.response

    def response(message: Message) -> ChatTurnResponse:
        return ChatTurnResponse(
            user_message=MessagePublic.model_validate(turn.user_message),
            assistant_message=MessagePublic.model_validate(message),
        )

    message = await _save_reply(
        turn,
        message_id=None,
        respond=lambda m: idempotency.Result(201, jsonable_encoder(response(m))),
        reply=Reply.answered(reply),
    )
    return response(message)


async def open_stream(turn: Turn) -> AsyncIterator[bytes]:
    """Start the provider stream and wait for its first event *before* answering.

    A failure up to here becomes a normal HTTP error with its real status (429 with
    Retry-After, 502, 504), never a 200 stream that only then says it failed.
    """
    stream = turn.chain.stream(turn.request)
    try:
        first = await anext(stream)
    except ProviderError as error:
        await stream.aclose()
        await _save_reply(
            turn,
            message_id=None,
            reply=Reply(
                content="",
                status=MessageStatus.ERROR,
                usage=Usage(),
                error_type=type(error).__name__,
            ),
        )
        raise to_app_error(error) from error
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
            await _save_reply(
                turn,
                message_id=None,
                interrupted=True,
                reply=Reply(
                    content="",
                    status=MessageStatus.CANCELLED,
                    usage=_estimated_usage(turn, ""),
                    usage_estimated=True,
                ),
            )
        raise
    placeholder = await _save_reply(
        turn,
        message_id=None,
        interrupted=True,
        reply=Reply(content="", status=MessageStatus.STREAMING, usage=None),
    )
    return _relay(turn, stream, first, placeholder.id)


def _relay(
    turn: Turn, stream: FallbackStream, first: StreamEvent, message_id: uuid.UUID
) -> AsyncIterator[bytes]:
    """Forward the stream as SSE (``start``, ``delta``..., ``done`` or ``error``); however
    it ends, store what arrived, settle the call and close the provider's stream."""
    start = {"user_message_id": str(turn.user_message.id), "message_id": str(message_id)}

    async def settle(end: TurnEnd) -> dict[str, Any]:
        def done(message: Message) -> dict[str, Any]:
            return done_payload(message, end)

        message = await _save_reply(
            turn,
            message_id=message_id,
            interrupted=end.interrupted,
            reply=end.reply(),
            # What a retry with the same Idempotency-Key gets (see ``replay_stream``).
            respond=lambda m: idempotency.Result(
                200, {"start": start, "text": end.text, "done": done(m)}
            ),
        )
        return done(message)

    return stream_turn(stream, first, start=start, settle=settle, prompt=turn.request.messages)


async def replay_stream(stored: dict[str, Any]) -> AsyncIterator[bytes]:
    """A finished streamed turn sent again to a retry: the same ``start`` and ``done``
    events, the reply's text in one ``delta``. Nothing is stored and no model is asked."""
    yield sse_event(stored["start"], event="start")
    if stored["text"]:
        yield sse_event({"text": stored["text"]}, event="delta")
    yield sse_event(stored["done"], event="done")
