"""Conversations and their messages, over a project's own models. Never commits: the
request's session owns the transaction.

Every project stores conversations and messages the same way (its models differ only
in the columns a later project adds), so the service is written once, for whichever
model classes a project passes in. Writes invalidate the user's cached conversation
list after the commit, never before: a reader can't cache the old list in between.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.chat.schemas import (
    ConversationCreate,
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
)
from genai_shared.db.base import utcnow
from genai_shared.db.pagination import Page, keyset_page
from genai_shared.db.session import after_commit


class ConversationRow(Protocol):
    """What the store needs of a project's conversation model (its instances)."""

    id: uuid.UUID
    user_id: uuid.UUID
    title: str
    meta: dict[str, Any]
    updated_at: datetime


class MessageRow(Protocol):
    """What the store needs of a project's message model (its instances)."""

    id: uuid.UUID
    conversation_id: uuid.UUID


C = TypeVar("C", bound=ConversationRow)
M = TypeVar("M", bound=MessageRow)


class ConversationStore(Generic[C, M]):
    def __init__(self, conversation_model: type[C], message_model: type[M]) -> None:
        self.conversation_model = conversation_model
        self.message_model = message_model
        # The same classes for building queries: their columns are SQLAlchemy attributes,
        # which a protocol of instance fields cannot describe.
        self._conversations: Any = conversation_model
        self._messages: Any = message_model

    @staticmethod
    def _invalidate_after_commit(
        session: AsyncSession, cache: RecentConversationsCache, user_id: uuid.UUID
    ) -> None:
        async def invalidate() -> None:
            await cache.invalidate(user_id)

        after_commit(session, invalidate)

    async def get_conversation(
        self, *, session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID | None = None
    ) -> C | None:
        """The conversation with this id, or None; with ``user_id``, only if it is theirs."""
        model = self._conversations
        query = select(model).where(model.id == conversation_id)
        if user_id is not None:
            query = query.where(model.user_id == user_id)
        return await session.scalar(query)

    async def create_conversation(
        self,
        *,
        session: AsyncSession,
        cache: RecentConversationsCache,
        user_id: uuid.UUID,
        data: ConversationCreate,
    ) -> C:
        """Create a conversation owned by ``user_id``."""
        conversation: C = self._conversations(user_id=user_id, title=data.title, meta=data.metadata)
        session.add(conversation)
        await session.flush()
        self._invalidate_after_commit(session, cache, user_id)
        return conversation

    async def list_conversations(
        self,
        *,
        session: AsyncSession,
        cache: RecentConversationsCache,
        user_id: uuid.UUID,
        limit: int,
        cursor: str | None,
    ) -> Page[ConversationPublic]:
        """A user's conversations, newest first. The first page is served from the cache."""
        variant = f"limit{limit}"
        generation = None
        if cursor is None:
            generation, cached = await cache.lookup(user_id, variant)
            if cached is not None:
                return cached

        model = self._conversations
        rows, next_cursor = await keyset_page(
            session,
            select(model).where(model.user_id == user_id),
            created_at=model.created_at,
            row_id=model.id,
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

    async def update_conversation(
        self,
        *,
        session: AsyncSession,
        cache: RecentConversationsCache,
        conversation: C,
        data: ConversationUpdate,
    ) -> C:
        """Apply the fields the client sent (a ``null`` title is ignored; metadata is
        replaced whole)."""
        changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude_none=True)
        if "title" in changes:
            conversation.title = changes["title"]
        if "metadata" in changes:
            conversation.meta = changes["metadata"]
        if changes:
            conversation.updated_at = utcnow()
            await session.flush()
            self._invalidate_after_commit(session, cache, conversation.user_id)
        return conversation

    async def delete_conversation(
        self, *, session: AsyncSession, cache: RecentConversationsCache, conversation: C
    ) -> None:
        """Delete a conversation; its messages go with it (ON DELETE CASCADE)."""
        model = self._conversations
        await session.execute(delete(model).where(model.id == conversation.id))
        self._invalidate_after_commit(session, cache, conversation.user_id)

    async def add_message(
        self,
        *,
        session: AsyncSession,
        cache: RecentConversationsCache,
        conversation: C,
        data: MessageCreate,
    ) -> M:
        """Append a message and touch the conversation's ``updated_at``."""
        now = utcnow()
        message: M = self._messages(
            conversation_id=conversation.id,
            role=data.role.value,
            content=data.content,
            token_count=data.token_count,
            created_at=now,
        )
        session.add(message)
        model = self._conversations
        await session.execute(
            update(model).where(model.id == conversation.id).values(updated_at=now)
        )
        await session.flush()
        self._invalidate_after_commit(session, cache, conversation.user_id)
        return message

    async def list_messages(
        self, *, session: AsyncSession, conversation_id: uuid.UUID, limit: int, cursor: str | None
    ) -> tuple[list[M], str | None]:
        """A conversation's messages, oldest first."""
        model = self._messages
        return await keyset_page(
            session,
            select(model).where(model.conversation_id == conversation_id),
            created_at=model.created_at,
            row_id=model.id,
            cursor=cursor,
            limit=limit,
            newest_first=False,
        )
