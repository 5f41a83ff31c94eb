"""The database steps of a chat turn, over a project's own models.

A turn is three short transactions, never one long one (the provider call in between
can take a minute): store the user's message and read the history to send; optionally
a ``streaming`` placeholder for the reply; then the reply as it ended. These are the
steps every chat project shares; what a project adds around them (ownership, a budget,
a usage ledger) stays in the project.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.chat.schemas import MessageRole, MessageStatus
from genai_shared.chat.store import ConversationRow
from genai_shared.db.base import utcnow
from genai_shared.llm.calls import CallRecord
from genai_shared.llm.pricing import cost_usd
from genai_shared.llm.tokens import count_text
from genai_shared.llm.types import ChatMessage


class ChatMessageRow(Protocol):
    id: uuid.UUID
    role: str
    content: str


C = TypeVar("C", bound=ConversationRow)
M = TypeVar("M", bound=ChatMessageRow)


@dataclass(frozen=True)
class StoredPrompt(Generic[M]):
    """The user's stored message, the history to send (oldest first, ending with it) and
    the conversation's owner."""

    message: M
    history: list[ChatMessage]
    user_id: uuid.UUID


def reply_values(record: CallRecord, *, streaming: bool = False) -> dict[str, Any]:
    """The assistant message's columns, from the call's record: what was said, how the
    call ended, who answered, usage, cost and latency. ``streaming``: the placeholder
    stored while a stream runs (no text, counts or cost yet)."""
    provider, model = record.provider or "unknown", record.model or "unknown"
    usage = None if streaming else record.usage
    status = MessageStatus.STREAMING if streaming else MessageStatus(record.outcome.value)
    return {
        "content": "" if streaming else record.text,
        "status": status.value,
        "provider": provider,
        "model": model,
        "input_tokens": usage.prompt_tokens if usage else None,  # cached tokens included
        "output_tokens": usage.output_tokens if usage else None,
        "token_count": usage.output_tokens if usage else None,
        "usage_estimated": record.usage_estimated,
        "cost_usd": cost_usd(f"{provider}/{model}", usage) if usage else Decimal(0),
        "latency_ms": record.latency_ms,
        "finish_reason": record.finish_reason,
        "error_type": record.error_type,
        "provider_request_id": record.provider_request_id,
    }


class ChatTurns(Generic[C, M]):
    def __init__(self, conversation_model: type[C], message_model: type[M]) -> None:
        # Query builders see SQLAlchemy attributes, which the row protocols cannot describe.
        self._conversations: Any = conversation_model
        self._messages: Any = message_model

    async def add_user_message(
        self,
        session: AsyncSession,
        *,
        conversation_id: uuid.UUID,
        content: str,
        history_limit: int,
        owner_id: uuid.UUID | None = None,
    ) -> StoredPrompt[M] | None:
        """Store the user's message and read the history to send: the last
        ``history_limit`` complete messages. None when there is no such conversation
        (or, given ``owner_id``, none of theirs)."""
        conversations, messages = self._conversations, self._messages
        query = select(conversations).where(conversations.id == conversation_id)
        if owner_id is not None:
            query = query.where(conversations.user_id == owner_id)
        conversation: C | None = await session.scalar(query)
        if conversation is None:
            return None
        now = utcnow()
        message: M = messages(
            conversation_id=conversation_id,
            role=MessageRole.USER.value,
            content=content,
            token_count=count_text(content),
            created_at=now,
            status=MessageStatus.COMPLETE.value,
        )
        session.add(message)
        await self._touch(session, conversation_id, now)
        await session.flush()
        rows = await session.scalars(
            select(messages)
            .where(
                messages.conversation_id == conversation_id,
                messages.status == MessageStatus.COMPLETE.value,
            )
            .order_by(messages.created_at.desc(), messages.id.desc())
            .limit(history_limit)
        )
        history = [
            ChatMessage.model_validate({"role": row.role, "content": row.content})
            for row in reversed(list(rows))
        ]
        return StoredPrompt(message=message, history=history, user_id=conversation.user_id)

    async def save_reply(
        self,
        session: AsyncSession,
        *,
        conversation_id: uuid.UUID,
        message_id: uuid.UUID | None,
        values: dict[str, Any],
    ) -> M:
        """Insert the assistant message, or update the ``streaming`` placeholder
        ``message_id``, and touch the conversation."""
        if message_id is None:
            message: M = self._messages(
                conversation_id=conversation_id, role=MessageRole.ASSISTANT.value, **values
            )
            session.add(message)
        else:
            message = await session.get_one(self._messages, message_id)
            for key, value in values.items():
                setattr(message, key, value)
        await self._touch(session, conversation_id, utcnow())
        await session.flush()
        return message

    async def _touch(self, session: AsyncSession, conversation_id: uuid.UUID, at: datetime) -> None:
        conversations = self._conversations
        await session.execute(
            update(conversations).where(conversations.id == conversation_id).values(updated_at=at)
        )
