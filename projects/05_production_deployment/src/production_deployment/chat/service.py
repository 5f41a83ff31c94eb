"""Conversations, messages and metered chat turns. Functions never commit; a transaction does.

Storing conversations and messages is shared (``genai_shared.chat.store``); what is this
project's own is ownership (the owner comes from the credential, never from the body)
and the money around a chat turn:

1. ``start_turn``: in one transaction, the user's message is stored, the history to send
   read, and the call's worst-case cost reserved from the monthly budget (over budget:
   402, and nothing is stored);
2. the model is asked (with fallbacks), whole or streamed; a stream first stores a
   ``streaming`` placeholder once its first event has arrived;
3. the reply is stored from the call's ``CallRecord`` and, in the same transaction, the
   reservation is settled into the usage ledger (one row per provider attempt) and the
   response an ``Idempotency-Key`` keeps for retries; a failed, broken or abandoned call
   is stored and settled too, as ``error`` or ``cancelled``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.chat.schemas import (
    ChatMessagePublic,
    ChatTurnRequest,
    ChatTurnResponse,
    ConversationCreate,
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
)
from genai_shared.chat.store import ConversationStore
from genai_shared.chat.turns import ChatTurns, reply_values
from genai_shared.db.pagination import Page
from genai_shared.db.session import Database
from genai_shared.llm.calls import CallRecord, Outcome
from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import FallbackChain, FallbackStream
from genai_shared.llm.http_errors import check_max_tokens, to_app_error
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.tokens import count_messages
from genai_shared.llm.turn_stream import done_payload, stream_turn
from genai_shared.llm.types import ChatRequest, StreamEvent, Usage
from genai_shared.web.drain import Drain
from genai_shared.web.sse import EventStreamResponse, sse_event
from production_deployment.agent.history import load_history
from production_deployment.auth.dependencies import Principal
from production_deployment.chat.exceptions import ConversationNotFound
from production_deployment.chat.models import Conversation, Message
from production_deployment.chat.schemas import MessagePublic
from production_deployment.core.config import Settings
from production_deployment.core.metrics import Metrics
from production_deployment.idempotency import service as idempotency
from production_deployment.usage import service as usage_service
from production_deployment.usage.exceptions import BudgetExceeded
from production_deployment.usage.redis_metering import RedisMetering
from production_deployment.usage.service import Meter

logger = logging.getLogger(__name__)
_conversations = ConversationStore(Conversation, Message)
_turns = ChatTurns(Conversation, Message)


# --- conversations and messages ----------------------------------------------------------


async def create_conversation(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    owner_id: uuid.UUID,
    data: ConversationCreate,
) -> Conversation:
    """Create a conversation owned by the caller (never by a user named in the body)."""
    return await _conversations.create_conversation(
        session=session, cache=cache, user_id=owner_id, data=data
    )


async def get_owned_conversation(
    *, session: AsyncSession, conversation_id: uuid.UUID, owner_id: uuid.UUID
) -> Conversation | None:
    """The conversation if it is the owner's: another user's is as missing as a deleted one."""
    return await _conversations.get_conversation(
        session=session, conversation_id=conversation_id, user_id=owner_id
    )


class CountedRecentConversations(RecentConversationsCache):
    """The recent-conversations cache, counting each first-page lookup in
    ``cache_requests_total{cache="recent_conversations", result="hit"|"miss"}``.

    An unreachable cache is a miss too: the database answered.
    """

    label = "recent_conversations"

    def __init__(self, cache: RecentConversationsCache, metrics: Metrics) -> None:
        super().__init__(
            cache.cache,
            Page[ConversationPublic],
            namespace=cache.namespace,
            ttl_seconds=cache.ttl_seconds,
        )
        self.lookups = metrics.cache_requests

    async def generation(self, owner: object) -> str | None:
        generation = await super().generation(owner)
        if generation is None:
            self.lookups.labels(cache=self.label, result="miss").inc()
        return generation

    async def get(
        self, owner: object, generation: str, variant: str = ""
    ) -> Page[ConversationPublic] | None:
        page = await super().get(owner, generation, variant)
        self.lookups.labels(cache=self.label, result="miss" if page is None else "hit").inc()
        return page


async def list_conversations(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    metrics: Metrics,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> Page[ConversationPublic]:
    """A user's conversations, newest first (the first page from the cache, counted)."""
    return await _conversations.list_conversations(
        session=session,
        cache=CountedRecentConversations(cache, metrics),
        user_id=user_id,
        limit=limit,
        cursor=cursor,
    )


async def update_conversation(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    conversation: Conversation,
    data: ConversationUpdate,
) -> Conversation:
    return await _conversations.update_conversation(
        session=session, cache=cache, conversation=conversation, data=data
    )


async def delete_conversation(
    *, session: AsyncSession, cache: RecentConversationsCache, conversation: Conversation
) -> None:
    await _conversations.delete_conversation(
        session=session, cache=cache, conversation=conversation
    )


async def add_message(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    conversation: Conversation,
    data: MessageCreate,
) -> Message:
    return await _conversations.add_message(
        session=session, cache=cache, conversation=conversation, data=data
    )


async def list_messages(
    *, session: AsyncSession, conversation_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[MessagePublic]:
    """A conversation's messages, oldest first."""
    rows, next_cursor = await _conversations.list_messages(
        session=session, conversation_id=conversation_id, limit=limit, cursor=cursor
    )
    return Page[MessagePublic](
        items=[MessagePublic.model_validate(row) for row in rows], next_cursor=next_cursor
    )


# --- a metered chat turn ------------------------------------------------------------------


@dataclass
class Turn:
    """One turn in flight: what its steps share."""

    db: Database
    cache: RecentConversationsCache
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    user_message: Message
    request: ChatRequest
    chain: FallbackChain
    meter: Meter
    record: CallRecord = field(default_factory=CallRecord)
    drain: Drain | None = None  # the app's: a stream still running at the drain deadline ends

    async def save_placeholder(self) -> Message:
        """The ``streaming`` row a stream's reply is written into when it ends."""
        async with self.db.transaction() as session:
            message = await _turns.save_reply(
                session,
                conversation_id=self.conversation_id,
                message_id=None,
                values=reply_values(self.record, streaming=True),
            )
        await _invalidate(self.cache, self.user_id)
        return message

    async def save_reply(
        self,
        *,
        message_id: uuid.UUID | None = None,
        response: Callable[[Message], idempotency.StoredResponse] | None = None,
    ) -> Message:
        """Store the reply as the record says it ended and settle the call, in one
        transaction; ``response(message)`` is what an ``Idempotency-Key`` keeps."""
        self.record.finish()
        async with self.db.transaction() as session:
            message = await _turns.save_reply(
                session,
                conversation_id=self.conversation_id,
                message_id=message_id,
                values=reply_values(self.record),
            )
            kept = response(message) if response is not None else None
            await self.meter.settle(
                self.record, session=session, message_id=message.id, response=kept
            )
        await _invalidate(self.cache, self.user_id)
        return message

    async def save_cancelled(self) -> None:
        """The turn was cancelled before any output (shutdown, or a bug): never leave the
        reservation behind."""
        self.record.outcome = Outcome.CANCELLED
        self.record.usage = Usage(input_tokens=count_messages(self.request.messages))
        self.record.usage_estimated = True
        with anyio.CancelScope(shield=True):
            await self.save_reply()


async def chat_turn(
    *,
    db: Database,
    metering: RedisMetering | None,
    cache: RecentConversationsCache,
    registry: ProviderRegistry,
    metrics: Metrics,
    settings: Settings,
    principal: Principal,
    conversation_id: uuid.UUID,
    data: ChatTurnRequest,
    idempotency_key: str | None,
    request_id: str | None,
    drain: Drain | None = None,
) -> ChatTurnResponse | Response:
    """One metered chat turn, whole or streamed, at most once per ``Idempotency-Key``."""
    check_max_tokens(data.max_tokens, cap=settings.chat_max_tokens_cap)
    async with idempotency.guard(
        db=db,
        user_id=principal.user_id,
        key=idempotency_key,
        route=f"chat:{conversation_id}",
        body=data.model_dump(mode="json"),
        ttl_seconds=settings.idempotency_ttl_seconds,
    ) as guard:
        if guard.stored is not None:
            return replay(guard.stored, stream=data.stream)
        turn = await start_turn(
            db=db,
            metering=metering,
            cache=cache,
            registry=registry,
            metrics=metrics,
            principal=principal,
            conversation_id=conversation_id,
            data=data,
            history_limit=settings.chat_history_messages,
            default_max_tokens=min(settings.llm_default_max_tokens, settings.chat_max_tokens_cap),
            request_id=request_id,
            claim=guard.claim,
        )
        turn.drain = drain
        if data.stream:
            return EventStreamResponse(await open_stream(turn))
        return await complete_turn(turn)


async def start_turn(
    *,
    db: Database,
    metering: RedisMetering | None,
    cache: RecentConversationsCache,
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
    model = data.routed_model() or registry.default_model
    try:
        chain = registry.fallback_chain(model)  # an unknown model: 422 before anything is stored
    except ProviderError as error:
        raise to_app_error(error) from error
    max_tokens = data.max_tokens or default_max_tokens
    try:
        async with db.transaction() as session:
            prompt = await _turns.add_user_message(
                session,
                conversation_id=conversation_id,
                content=data.content,
                history_limit=history_limit,
                owner_id=principal.user_id,
            )
            if prompt is None:
                raise ConversationNotFound
            # With its tool calls and results intact, so the history replays to any provider.
            history = await load_history(
                session, conversation_id=conversation_id, limit=history_limit
            )
            reservation = await usage_service.hold(
                metering=metering,
                session=session,
                user_id=principal.user_id,
                budget_micro_usd=principal.user.monthly_budget_micro_usd,
                amount_micro_usd=usage_service.worst_case_micro(chain.targets, history, max_tokens),
                request_id=request_id,
            )
    except BudgetExceeded:
        metrics.budget_refusals.inc()
        raise
    await _invalidate(cache, principal.user_id)
    return Turn(
        db=db,
        cache=cache,
        conversation_id=conversation_id,
        user_id=principal.user_id,
        user_message=prompt.message,
        request=ChatRequest(
            model=model,
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
            metering=metering,
        ),
    )


async def complete_turn(turn: Turn) -> ChatTurnResponse:
    """Ask for the whole reply at once (with fallbacks), then store and settle it."""
    try:
        result = await turn.chain.complete(turn.request, turn.record)
    except ProviderError as error:
        turn.record.failed(error)
        await turn.save_reply()
        raise to_app_error(error) from error
    except BaseException:
        await turn.save_cancelled()
        raise
    turn.record.answered(result.response)

    def response(message: Message) -> ChatTurnResponse:
        return ChatTurnResponse(
            user_message=ChatMessagePublic.model_validate(turn.user_message),
            assistant_message=ChatMessagePublic.model_validate(message),
        )

    message = await turn.save_reply(
        response=lambda m: idempotency.StoredResponse(201, jsonable_encoder(response(m)))
    )
    return response(message)


async def open_stream(turn: Turn) -> AsyncIterator[bytes]:
    """Start the provider stream and wait for its first event *before* answering.

    A failure up to here becomes a normal HTTP error with its real status (429 with
    Retry-After, 502, 504), never a 200 stream that only then says it failed.
    """
    stream = turn.chain.stream(turn.request, turn.record)
    try:
        first = await anext(stream)
    except ProviderError as error:
        await stream.aclose()
        turn.record.failed(error)
        await turn.save_reply()
        raise to_app_error(error) from error
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        await turn.save_cancelled()
        raise
    waited = time.perf_counter() - turn.record.started
    turn.meter.metrics.first_token.labels(turn.record.provider or "unknown").observe(waited)
    placeholder = await turn.save_placeholder()
    return _relay(turn, stream, first, placeholder.id)


def _relay(
    turn: Turn, stream: FallbackStream, first: StreamEvent, message_id: uuid.UUID
) -> AsyncIterator[bytes]:
    """Forward the stream as SSE (``start``, ``delta``..., ``done`` or ``error``); however
    it ends, store what arrived, settle the call and close the provider's stream."""
    start = {"user_message_id": str(turn.user_message.id), "message_id": str(message_id)}

    def kept(message: Message) -> idempotency.StoredResponse:
        """What a retry with the same ``Idempotency-Key`` gets (see ``replay``)."""
        done = done_payload(message, turn.record)
        return idempotency.StoredResponse(
            200, {"start": start, "text": turn.record.text, "done": done}
        )

    async def on_end(record: CallRecord) -> Message:
        return await turn.save_reply(message_id=message_id, response=kept)

    return stream_turn(
        stream, first, start=start, on_end=on_end, prompt=turn.request.messages, drain=turn.drain
    )


def replay(stored: idempotency.StoredResponse, *, stream: bool) -> Response:
    """A finished turn sent again to a retry: the same JSON, or for a stream the same
    ``start`` and ``done`` events with the reply's text in one ``delta``. Nothing is
    stored and no model is asked."""
    if not stream:
        return JSONResponse(
            stored.body, status_code=stored.status_code, headers=idempotency.REPLAYED
        )
    return EventStreamResponse(_replayed_events(stored.body), headers=idempotency.REPLAYED)


async def _replayed_events(stored: dict[str, Any]) -> AsyncIterator[bytes]:
    yield sse_event(stored["start"], event="start")
    if stored["text"]:
        yield sse_event({"text": stored["text"]}, event="delta")
    yield sse_event(stored["done"], event="done")


async def _invalidate(cache: RecentConversationsCache, user_id: uuid.UUID) -> None:
    """Forget the user's cached conversation list (a turn touches ``updated_at``)."""
    try:
        await cache.invalidate(user_id)
    except Exception:
        logger.warning("could not invalidate the conversations cache", exc_info=True)
