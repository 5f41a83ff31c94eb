"""Conversations and messages: project 01's own SQLAlchemy 2 queries.

Every function takes the request's session and never commits: the session dependency
commits once the route has returned, so two calls in one request share one transaction.
A write that changes what a user's conversation list shows registers
``forget_recent_conversations``, which runs only after that commit: a reader in between
can still cache the old list, but under the generation the write then retires.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat_api_with_db.chat.models import Conversation, Message
from chat_api_with_db.chat.schemas import ConversationCreate
from chat_api_with_db.users import service as users_service
from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.chat.schemas import (
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
    MessagePublic,
)
from genai_shared.db.base import utcnow
from genai_shared.db.pagination import Page, keyset_page
from genai_shared.db.session import after_commit
from genai_shared.users.exceptions import UserNotFound


def forget_recent_conversations(
    *, session: AsyncSession, cache: RecentConversationsCache, user_id: uuid.UUID
) -> None:
    """Drop the user's cached first page once the write is committed (never on rollback)."""

    async def invalidate() -> None:
        await cache.invalidate(user_id)

    after_commit(session, invalidate)


async def create_conversation(
    *, session: AsyncSession, cache: RecentConversationsCache, data: ConversationCreate
) -> Conversation:
    """A new conversation for the user the request names, who must exist (404 otherwise)."""
    if await users_service.get(session=session, user_id=data.user_id) is None:
        raise UserNotFound(details=[{"loc": ["body", "user_id"]}])
    conversation = Conversation(user_id=data.user_id, title=data.title, meta=data.metadata)
    session.add(conversation)
    await session.flush()  # assigns the timestamps the response shows
    forget_recent_conversations(session=session, cache=cache, user_id=data.user_id)
    return conversation


async def list_conversations(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> Page[ConversationPublic]:
    """A user's conversations, newest first; the first page, the one read most, is cached."""
    variant = f"limit{limit}"
    generation = await cache.generation(user_id) if cursor is None else None
    if generation is not None:
        cached = await cache.get(user_id, generation, variant=variant)
        if cached is not None:
            return cached

    rows, next_cursor = await keyset_page(
        session,
        select(Conversation).where(Conversation.user_id == user_id),
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
        await cache.put(user_id, generation, page, variant=variant)
    return page


async def get_conversation(
    *, session: AsyncSession, conversation_id: uuid.UUID
) -> Conversation | None:
    """The conversation with this id, or None."""
    return await session.get(Conversation, conversation_id)


async def update_conversation(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    conversation: Conversation,
    data: ConversationUpdate,
) -> Conversation:
    """Change what the client sent: a ``null`` title is ignored, metadata is replaced whole."""
    changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        return conversation
    if "title" in changes:
        conversation.title = changes["title"]
    if "metadata" in changes:
        conversation.meta = changes["metadata"]
    conversation.updated_at = utcnow()
    await session.flush()
    forget_recent_conversations(session=session, cache=cache, user_id=conversation.user_id)
    return conversation


async def delete_conversation(
    *, session: AsyncSession, cache: RecentConversationsCache, conversation: Conversation
) -> None:
    """Delete a conversation in one statement; the database's ON DELETE CASCADE takes its
    messages, so none are loaded into Python first."""
    await session.execute(delete(Conversation).where(Conversation.id == conversation.id))
    forget_recent_conversations(session=session, cache=cache, user_id=conversation.user_id)


async def add_message(
    *,
    session: AsyncSession,
    cache: RecentConversationsCache,
    conversation: Conversation,
    data: MessageCreate,
) -> Message:
    """Append a message and move the conversation's ``updated_at`` to the same instant."""
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
    forget_recent_conversations(session=session, cache=cache, user_id=conversation.user_id)
    return message


async def list_messages(
    *, session: AsyncSession, conversation_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[MessagePublic]:
    """A conversation's messages, oldest first, one page at a time."""
    rows, next_cursor = await keyset_page(
        session,
        select(Message).where(Message.conversation_id == conversation_id),
        created_at=Message.created_at,
        row_id=Message.id,
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )
    return Page[MessagePublic](
        items=[MessagePublic.model_validate(row) for row in rows], next_cursor=next_cursor
    )
