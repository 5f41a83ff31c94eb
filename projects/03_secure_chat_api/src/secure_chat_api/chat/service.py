"""Conversations and messages. Functions never commit; the request's session does."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from genai_shared.db.pagination import Page, keyset_page
from genai_shared.db.session import after_commit
from secure_chat_api.chat.cache import RecentConversationsCache
from secure_chat_api.chat.models import Conversation, Message
from secure_chat_api.chat.schemas import (
    ConversationCreate,
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
)


def _invalidate_after_commit(
    session: AsyncSession, cache: RecentConversationsCache, user_id: uuid.UUID
) -> None:
    async def invalidate() -> None:
        await cache.invalidate(user_id)

    after_commit(session, invalidate)


async def get_owned_conversation(
    *, session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> Conversation | None:
    """The conversation if it exists and belongs to this user, else None."""
    return await session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )


async def create_conversation(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    user_id: uuid.UUID,
    data: ConversationCreate,
) -> Conversation:
    """Create a conversation owned by ``user_id``."""
    conversation = Conversation(user_id=user_id, title=data.title, meta=data.metadata)
    session.add(conversation)
    await session.flush()
    _invalidate_after_commit(session, cache, user_id)
    return conversation


async def list_conversations(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> Page[ConversationPublic]:
    """A user's conversations, newest first. The first page is served from the cache."""
    generation = await cache.generation(user_id) if cursor is None else None
    if generation is not None:
        cached = await cache.get(user_id, generation, variant=f"limit{limit}")
        if cached is not None:
            return cached

    query = select(Conversation).where(Conversation.user_id == user_id)
    rows, next_cursor = await keyset_page(
        session,
        query,
        created_at=Conversation.created_at,
        row_id=Conversation.id,
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )
    page = Page[ConversationPublic](
        items=[ConversationPublic.model_validate(row) for row in rows], next_cursor=next_cursor
    )
    if generation is not None:
        await cache.put(user_id, generation, page, variant=f"limit{limit}")
    return page


async def update_conversation(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    conversation: Conversation,
    data: ConversationUpdate,
) -> Conversation:
    """Apply the fields the client sent (``null`` for title is ignored; metadata is replaced)."""
    changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude_none=True)
    if "title" in changes:
        conversation.title = changes["title"]
    if "metadata" in changes:
        conversation.meta = changes["metadata"]
    if changes:
        conversation.updated_at = utcnow()
        await session.flush()
        _invalidate_after_commit(session, cache, conversation.user_id)
    return conversation


async def delete_conversation(
    *, session: AsyncSession, cache: RecentConversationsCache, conversation: Conversation
) -> None:
    """Delete a conversation; its messages go with it (ON DELETE CASCADE)."""
    await session.execute(delete(Conversation).where(Conversation.id == conversation.id))
    _invalidate_after_commit(session, cache, conversation.user_id)


async def add_message(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    conversation: Conversation,
    data: MessageCreate,
) -> Message:
    """Append a message and touch the conversation's ``updated_at``."""
    now = utcnow()
    message = Message(
        conversation_id=conversation.id,
        role=data.role.value,
        content=data.content,
        token_count=data.token_count,
        created_at=now,
    )
    session.add(message)
    await session.execute(
        update(Conversation).where(Conversation.id == conversation.id).values(updated_at=now)
    )
    await session.flush()
    _invalidate_after_commit(session, cache, conversation.user_id)
    return message


async def list_messages(
    *, session: AsyncSession, conversation_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[Message], str | None]:
    """A conversation's messages, oldest first."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    return await keyset_page(
        session,
        query,
        created_at=Message.created_at,
        row_id=Message.id,
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )
