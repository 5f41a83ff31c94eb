"""Conversations, messages and chat turns. Functions never commit; a transaction does.

Storing conversations and messages is the same in every project
(``genai_shared.chat.store``); this project's own lesson is the chat turn below: one
question to a model behind a fallback chain, whole or streamed, stored however it ends.

A turn is three short transactions, because the provider call in the middle can take a
minute and must never hold a database transaction open:

1. the user's message is committed before the provider is called, so it is never lost;
2. for a stream, an assistant row in status ``streaming`` is committed once the first
   event has arrived, and updated when the stream ends;
3. the reply is stored from the call's ``CallRecord``: the provider and model that
   answered, usage, cost and latency; a failed, broken or abandoned call is stored too,
   with what had arrived, as ``error`` or ``cancelled``, and usage counted here when the
   provider never sent it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.chat.schemas import ChatMessagePublic as MessagePublic
from genai_shared.chat.schemas import (
    ChatTurnRequest,
    ChatTurnResponse,
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
)
from genai_shared.chat.store import ConversationStore
from genai_shared.chat.turns import ChatTurns, reply_values
from genai_shared.db.pagination import Page
from genai_shared.db.session import Database
from genai_shared.llm.calls import CallRecord
from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import FallbackChain, FallbackStream
from genai_shared.llm.http_errors import check_max_tokens, to_app_error
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.turn_stream import stream_turn
from genai_shared.llm.types import ChatRequest, StreamEvent
from genai_shared.users.exceptions import UserNotFound
from genai_shared.web.sse import EventStreamResponse
from multi_provider_chat.chat.exceptions import ConversationNotFound
from multi_provider_chat.chat.models import Conversation, Message
from multi_provider_chat.chat.schemas import ConversationCreate
from multi_provider_chat.core.config import Settings
from multi_provider_chat.users import service as users_service

logger = logging.getLogger(__name__)
_conversations = ConversationStore(Conversation, Message)
_turns = ChatTurns(Conversation, Message)


# --- conversations and messages ----------------------------------------------------------


async def create_conversation(
    *, session: AsyncSession, cache: RecentConversationsCache, data: ConversationCreate
) -> Conversation:
    """Create a conversation for an existing user (named in the request: no sign-in yet)."""
    if await users_service.get(session=session, user_id=data.user_id) is None:
        raise UserNotFound(details=[{"loc": ["body", "user_id"]}])
    return await _conversations.create_conversation(
        session=session, cache=cache, user_id=data.user_id, data=data
    )


async def get_conversation(
    *, session: AsyncSession, conversation_id: uuid.UUID
) -> Conversation | None:
    return await _conversations.get_conversation(session=session, conversation_id=conversation_id)


async def list_conversations(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> Page[ConversationPublic]:
    """A user's conversations, newest first (the first page from the cache)."""
    return await _conversations.list_conversations(
        session=session, cache=cache, user_id=user_id, limit=limit, cursor=cursor
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


# --- a chat turn ---------------------------------------------------------------------------


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
    record: CallRecord = field(default_factory=CallRecord)

    async def save_reply(self, *, message_id: uuid.UUID | None = None) -> Message:
        """Store the reply as the record says it ended, in a transaction of its own."""
        return await self._store(reply_values(self.record), message_id)

    async def save_placeholder(self) -> Message:
        """The ``streaming`` row a stream's reply is written into when it ends."""
        return await self._store(reply_values(self.record, streaming=True), None)

    async def _store(self, values: dict[str, object], message_id: uuid.UUID | None) -> Message:
        async with self.db.transaction() as session:
            message = await _turns.save_reply(
                session, conversation_id=self.conversation_id, message_id=message_id, values=values
            )
        await _invalidate(self.cache, self.user_id)
        return message


async def chat_turn(
    *,
    db: Database,
    cache: RecentConversationsCache,
    registry: ProviderRegistry,
    settings: Settings,
    conversation_id: uuid.UUID,
    data: ChatTurnRequest,
) -> ChatTurnResponse | EventStreamResponse:
    """Send the user's message to the model; the reply whole, or as a stream of events."""
    check_max_tokens(data.max_tokens, cap=settings.chat_max_tokens_cap)
    turn = await start_turn(
        db=db,
        cache=cache,
        registry=registry,
        conversation_id=conversation_id,
        data=data,
        history_limit=settings.chat_history_messages,
    )
    if data.stream:
        return EventStreamResponse(await open_stream(turn))
    return await complete_turn(turn)


async def start_turn(
    *,
    db: Database,
    cache: RecentConversationsCache,
    registry: ProviderRegistry,
    conversation_id: uuid.UUID,
    data: ChatTurnRequest,
    history_limit: int,
) -> Turn:
    """Check the model, then commit the user's message and read the history to send."""
    model = data.routed_model() or registry.default_model
    try:
        chain = registry.fallback_chain(model)  # an unknown model: 422 before anything is stored
    except ProviderError as error:
        raise to_app_error(error) from error
    async with db.transaction() as session:
        prompt = await _turns.add_user_message(
            session,
            conversation_id=conversation_id,
            content=data.content,
            history_limit=history_limit,
        )
    if prompt is None:  # nothing was written
        raise ConversationNotFound
    await _invalidate(cache, prompt.user_id)
    return Turn(
        db=db,
        cache=cache,
        conversation_id=conversation_id,
        user_id=prompt.user_id,
        user_message=prompt.message,
        request=ChatRequest(
            model=model,
            messages=prompt.history,
            max_tokens=data.max_tokens,
            temperature=data.temperature,
        ),
        chain=chain,
    )


async def complete_turn(turn: Turn) -> ChatTurnResponse:
    """Ask for the whole reply at once (with fallbacks) and store it, failed ones too."""
    try:
        result = await turn.chain.complete(turn.request, turn.record)
    except ProviderError as error:
        turn.record.failed(error)
        await turn.save_reply()
        raise to_app_error(error) from error
    turn.record.answered(result.response)
    turn.record.finish()
    message = await turn.save_reply()
    return ChatTurnResponse(
        user_message=MessagePublic.model_validate(turn.user_message),
        assistant_message=MessagePublic.model_validate(message),
    )


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
        raise
    placeholder = await turn.save_placeholder()
    return _relay(turn, stream, first, placeholder.id)


def _relay(
    turn: Turn, stream: FallbackStream, first: StreamEvent, message_id: uuid.UUID
) -> AsyncIterator[bytes]:
    """Forward the stream as SSE (``start``, ``delta``..., ``done`` or ``error``); however
    it ends, store what arrived and close the provider's stream."""

    async def on_end(record: CallRecord) -> Message:
        return await turn.save_reply(message_id=message_id)

    start = {"user_message_id": str(turn.user_message.id), "message_id": str(message_id)}
    return stream_turn(stream, first, start=start, on_end=on_end, prompt=turn.request.messages)


async def _invalidate(cache: RecentConversationsCache, user_id: uuid.UUID) -> None:
    """Forget the user's cached conversation list (a turn touches ``updated_at``)."""
    try:
        await cache.invalidate(user_id)
    except Exception:
        logger.warning("could not invalidate the conversations cache", exc_info=True)
