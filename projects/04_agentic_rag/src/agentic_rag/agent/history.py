"""A conversation's stored messages as a history both providers accept: the shared
``genai_shared.agent.history`` over this project's ``Message``."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agentic_rag.chat.models import Message
from genai_shared.agent import history
from genai_shared.agent.history import chat_message, replayable
from genai_shared.llm.types import ChatMessage

__all__ = ["chat_message", "load_history", "replayable"]


async def load_history(
    session: AsyncSession, *, conversation_id: uuid.UUID, limit: int
) -> list[ChatMessage]:
    """The conversation's last ``limit`` complete messages, oldest first, made replayable."""
    return await history.load_history(
        session, Message, conversation_id=conversation_id, limit=limit
    )
