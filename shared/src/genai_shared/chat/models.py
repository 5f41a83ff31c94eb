"""The columns of conversations and messages, as mixins for each project's own models.

Every project has its own declarative ``Base`` (its own metadata and Alembic history),
so the tables cannot be shared; their columns, constraints, indexes and relationships
can. A project writes ``class Conversation(ConversationColumns, Base)`` with its
``__tablename__``; the relationships name ``Conversation`` and ``Message``, which
SQLAlchemy looks up in that project's own registry.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from genai_shared.chat.schemas import MessageStatus
from genai_shared.db.base import JSONType, TimestampMixin, UUIDPrimaryKeyMixin, utcnow


class ConversationColumns(UUIDPrimaryKeyMixin, TimestampMixin):
    """A conversation: its owner, title and free-form metadata."""

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        # Serves "a user's conversations, newest first" as an index-only range scan.
        return (Index("ix_conversation_user_id_created_at_id", "user_id", "created_at", "id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # "metadata" is reserved on declarative classes: the attribute is meta, the column metadata.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)

    @declared_attr
    @classmethod
    def messages(cls) -> Mapped[list[Any]]:
        # "Message" is looked up in the project's own registry: its own Message class.
        return relationship(
            "Message",
            back_populates="conversation",
            cascade="all, delete-orphan",
            passive_deletes=True,  # the database's ON DELETE CASCADE does the work
            order_by="Message.created_at",
        )


class MessageColumns(UUIDPrimaryKeyMixin):
    """A message of a conversation: who said it, and what."""

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            CheckConstraint("role IN ('user', 'assistant', 'system')", name="role_is_known"),
            CheckConstraint(
                "token_count IS NULL OR token_count >= 0", name="token_count_not_negative"
            ),
            Index(
                "ix_message_conversation_id_created_at_id", "conversation_id", "created_at", "id"
            ),
            *cls.more_table_args(),
        )

    @classmethod
    def more_table_args(cls) -> tuple[Any, ...]:
        """Constraints a subclass adds for the columns it adds."""
        return ()

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversation.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @declared_attr
    @classmethod
    def conversation(cls) -> Mapped[Any]:
        return relationship("Conversation", back_populates="messages")


class ChatMessageColumns(MessageColumns):
    """A message of a chat API: an assistant reply also records the call that made it."""

    @classmethod
    def more_table_args(cls) -> tuple[Any, ...]:
        return (
            CheckConstraint(
                "status IN ('complete', 'streaming', 'error', 'cancelled')", name="status_is_known"
            ),
        )

    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.COMPLETE.value)

    # The provider call that produced an assistant message (all null for other messages).
    provider: Mapped[str | None] = mapped_column(String(32), default=None)
    model: Mapped[str | None] = mapped_column(String(128), default=None)
    input_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    output_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    # True when the provider never reported usage (broken or cancelled stream) and the
    # numbers were counted here with the tokenizer instead.
    usage_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 8), default=None)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    finish_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    error_type: Mapped[str | None] = mapped_column(String(64), default=None)
    provider_request_id: Mapped[str | None] = mapped_column(String(128), default=None)
