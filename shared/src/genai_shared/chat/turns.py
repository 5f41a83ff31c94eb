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
from genai_shared.db.base import utcnow
from genai_shared.llm.pricing import cost_usd
from genai_shared.llm.tokens import count_text
from genai_shared.llm.types import ChatMessage, ChatResponse, Usage


class ConversationRow(Protocol):
    id: uuid.UUID
    user_id: uuid.UUID


class ChatMessageRow(Protocol):
    id: uuid.UUID
    role: str
    content: str


C = TypeVar("C", bound=ConversationRow)
M = TypeVar("M", bound=ChatMessageRow)


@dataclass(frozen=True)
class UserTurn(Generic[M]):
    """The user's stored message, the history to send (oldest first, ending with it) and
    the conversation's owner."""

    message: M
    history: list[ChatMessage]
    user_id: uuid.UUID


@dataclass(frozen=True)
class Reply:
    """How an assistant reply ended up: what to store of it (the call that made it aside)."""

    content: str
    status: MessageStatus
    usage: Usage | None  # None: a placeholder still streaming (no counts yet, no cost)
    usage_estimated: bool = False
    finish_reason: str | None = None
    error_type: str | None = None
    provider_request_id: str | None = None

    @classmethod
    def answered(cls, response: ChatResponse) -> Reply:
        """A whole answer, as the provider returned it."""
        return cls(
            content=response.content,
            status=MessageStatus.COMPLETE,
            usage=response.usage,
            finish_reason=response.finish_reason,
            provider_request_id=response.request_id,
        )


def reply_values(reply: Reply, *, provider: str, model: str, latency_ms: int) -> dict[str, Any]:
    """The assistant message's columns: the reply, who answered, usage, cost, latency."""
    usage = reply.usage
    return {
        "content": reply.content,
        "status": reply.status.value,
        "provider": provider,
        "model": model,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "token_count": usage.output_tokens if usage else None,
        "usage_estimated": reply.usage_estimated,
        "cost_usd": cost_usd(f"{provider}/{model}", usage) if usage else Decimal(0),
        "latency_ms": latency_ms,
        "finish_reason": reply.finish_reason,
        "error_type": reply.error_type,
        "provider_request_id": reply.provider_request_id,
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
    ) -> UserTurn[M] | None:
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
        return UserTurn(message=message, history=history, user_id=conversation.user_id)

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
