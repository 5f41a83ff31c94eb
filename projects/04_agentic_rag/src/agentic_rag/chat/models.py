"""Project 03's conversation and message tables: the shared columns
(``genai_shared.chat.models``) on this project's own ``Base``, and their relationships."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, relationship

from agentic_rag.core.database import Base
from genai_shared.chat.models import ChatMessageColumns, ConversationColumns


class Conversation(ConversationColumns, Base):
    __tablename__ = "conversation"

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        passive_deletes=True,  # the database's ON DELETE CASCADE does the work
        order_by="Message.created_at",
    )


class Message(ChatMessageColumns, Base):
    __tablename__ = "message"

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
