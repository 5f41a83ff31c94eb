from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chat_api_with_db.core.database import Base
from genai_shared.db.base import JSONType, TimestampMixin, UUIDPrimaryKeyMixin, utcnow


class Conversation(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "conversation"
    __table_args__ = (
        # Serves "a user's conversations, newest first" as an index-only range scan.
        Index("ix_conversation_user_id_created_at_id", "user_id", "created_at", "id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # "metadata" is reserved on declarative classes: the attribute is meta, the column metadata.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        passive_deletes=True,  # the database's ON DELETE CASCADE does the work
        order_by="Message.created_at",
    )


class Message(UUIDPrimaryKeyMixin, Base):
    __tablename__ = "message"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'assistant', 'system')", name="role_is_known"),
        CheckConstraint("token_count IS NULL OR token_count >= 0", name="token_count_not_negative"),
        Index("ix_message_conversation_id_created_at_id", "conversation_id", "created_at", "id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversation.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
