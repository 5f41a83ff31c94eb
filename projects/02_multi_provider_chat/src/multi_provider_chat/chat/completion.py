"""A chat turn: store the user's message, ask the model, store the reply.

Each step is its own short transaction, because the provider call in the middle can
take a minute and must never hold a database transaction open:

1. the user's message is committed before the provider is called, so it is never lost;
2. for a stream, an assistant row in status ``streaming`` is committed once the first
   event has arrived, and updated when the stream ends;
3. the reply is stored with the provider and model that answered, token usage, cost and
   latency; a failed, broken or abandoned call is stored too, with what had arrived, as
   ``error`` or ``cancelled``, and usage counted here when the provider never sent it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

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
from genai_shared.llm.fallback import Attempt, FallbackStream
from genai_shared.llm.http_errors import to_app_error
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.turn_stream import TurnEnd, done_payload, stream_turn
from genai_shared.llm.types import ChatRequest, StreamEvent, Usage
from multi_provider_chat.chat.exceptions import ConversationNotFound
from multi_provider_chat.chat.models import Conversation, Message

logger = logging.getLogger(__name__)
TURNS = ChatTurns(Conversation, Message)


@dataclass
class Turn:
    """Everything about one turn that the steps share."""

    db: Database
    conversations_cache: RecentConversationsCache
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    request: ChatRequest
    routed_model: str
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
    conversation_id: uuid.UUID,
    data: ChatTurnRequest,
    history_limit: int,
) -> Turn:
    """Check the model, then commit the user's message and read the history to send."""
    routed = data.routed_model() or registry.default_model
    try:
        registry.resolve(routed)  # an unknown model is a 422 before anything is stored
    except ProviderError as error:
        raise to_app_error(error) from error

    stored = None
    async with db.transaction() as session:
        stored = await TURNS.add_user_message(
            session,
            conversation_id=conversation_id,
            content=data.content,
            history_limit=history_limit,
        )
    if stored is None:  # nothing was written
        raise ConversationNotFound

    turn = Turn(
        db=db,
        conversations_cache=conversations_cache,
        conversation_id=conversation_id,
        user_id=stored.user_id,
        request=ChatRequest(
            model=routed,
            messages=stored.history,
            max_tokens=data.max_tokens,
            temperature=data.temperature,
        ),
        routed_model=routed,
        user_message=stored.message,
    )
    await turn.invalidate_cache()
    return turn


def _answered_by(attempts: list[Attempt], fallback: str) -> tuple[str, str]:
    if attempts:
        return attempts[-1].provider, attempts[-1].model
    provider, _, model = fallback.partition("/")
    return provider, model


async def _save_reply(
    turn: Turn,
    *,
    message_id: uuid.UUID | None,
    attempts: list[Attempt],
    reply: Reply,
) -> Message:
    """Insert the assistant row, or update the ``streaming`` one, in its own transaction."""
    provider, model = _answered_by(attempts, turn.routed_model)
    values = reply_values(reply, provider=provider, model=model, latency_ms=turn.latency_ms())
    async with turn.db.transaction() as session:
        message = await TURNS.save_reply(
            session, conversation_id=turn.conversation_id, message_id=message_id, values=values
        )
    await turn.invalidate_cache()
    return message


async def complete_turn(turn: Turn, registry: ProviderRegistry) -> ChatTurnResponse:
    """Ask the model for the whole reply at once (with fallbacks) and store it."""
    chain = registry.fallback_chain(turn.routed_model)
    try:
        result = await chain.complete(turn.request)
    except ProviderError as error:
        await _save_reply(
            turn,
            message_id=None,
            attempts=[],
            reply=Reply(
                content="",
                status=MessageStatus.ERROR,
                usage=Usage(),
                error_type=type(error).__name__,
            ),
        )
        raise to_app_error(error) from error
    reply = result.response
    message = await _save_reply(
        turn,
        message_id=None,
        attempts=result.attempts,
        reply=Reply.answered(reply),
    )
    return ChatTurnResponse(
        user_message=MessagePublic.model_validate(turn.user_message),
        assistant_message=MessagePublic.model_validate(message),
    )


async def open_stream(turn: Turn, registry: ProviderRegistry) -> AsyncIterator[bytes]:
    """Start the provider stream and wait for its first event *before* answering.

    A failure up to here becomes a normal HTTP error with its real status (429 with
    Retry-After, 502, 504), never a 200 stream that only then says it failed.
    """
    stream = registry.fallback_chain(turn.routed_model).stream(turn.request)
    try:
        first = await anext(stream)
    except ProviderError as error:
        await stream.aclose()
        await _save_reply(
            turn,
            message_id=None,
            attempts=stream.attempts,
            reply=Reply(
                content="",
                status=MessageStatus.ERROR,
                usage=Usage(),
                error_type=type(error).__name__,
            ),
        )
        raise to_app_error(error) from error
    except BaseException:
        await stream.aclose()
        raise
    placeholder = await _save_reply(
        turn,
        message_id=None,
        attempts=stream.attempts,
        reply=Reply(content="", status=MessageStatus.STREAMING, usage=None),
    )
    return _relay(turn, stream, first, placeholder.id)


def _relay(
    turn: Turn, stream: FallbackStream, first: StreamEvent, message_id: uuid.UUID
) -> AsyncIterator[bytes]:
    """Forward the stream as SSE (``start``, ``delta``..., ``done`` or ``error``); however
    it ends, store what arrived and close the provider's stream."""

    async def settle(end: TurnEnd) -> dict[str, Any]:
        message = await _save_reply(
            turn, message_id=message_id, attempts=stream.attempts, reply=end.reply()
        )
        return done_payload(message, end)

    start = {"user_message_id": str(turn.user_message.id), "message_id": str(message_id)}
    return stream_turn(stream, first, start=start, settle=settle, prompt=turn.request.messages)
