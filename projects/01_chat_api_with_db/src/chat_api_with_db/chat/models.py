"""Project 01's conversation and message tables: the shared columns
(``genai_shared.chat.models``) on this project's own ``Base``, and their relationships."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, relationship

from chat_api_with_db.core.database import Base
from genai_shared.chat.models import ConversationColumns, MessageColumns


class Conversation(ConversationColumns, Base):
    __tablename__ = "conversation"

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        passive_deletes=True,  # the database's ON DELETE CASCADE does the work
        order_by="Message.created_at",
    )


class Message(MessageColumns, Base):
    __tablename__ = "message"

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
