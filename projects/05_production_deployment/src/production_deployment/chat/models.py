"""Project 05's conversation and message tables: the shared columns
(``genai_shared.chat.models``) on this project's own ``Base``, and their relationships.

A message here can also be one step of a tool-using exchange, stored so that the history
replays to either provider: an ``assistant`` message with ``tool_calls`` (the calls the
model asked for, its text in ``content``), then one ``tool`` message per call whose
``tool_call_id`` names the call it answers. Only this project allows role ``tool``; the
shared mixins (and projects 02 and 03) keep their three roles.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, CheckConstraint, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from genai_shared.chat.models import ChatMessageColumns, ConversationColumns
from production_deployment.core.database import Base

MESSAGE_ROLES = ("user", "assistant", "system", "tool")

# None is SQL NULL (not the JSON value null), so "no tool calls" is IS NULL in SQL.
NullableJSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


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

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        """The shared constraints, with the role check widened to ``tool``, and the
        rules that tie the tool columns to their roles."""
        shared = tuple(
            arg
            for arg in ChatMessageColumns.__table_args__
            if getattr(arg, "name", None) != "role_is_known"
        )
        roles = ", ".join(f"'{role}'" for role in MESSAGE_ROLES)
        return (
            CheckConstraint(f"role IN ({roles})", name="role_is_known"),
            *shared,
            CheckConstraint(
                "(role = 'tool' AND tool_call_id IS NOT NULL) "
                "OR (role <> 'tool' AND tool_call_id IS NULL)",
                name="tool_call_id_on_tool_messages",
            ),
            CheckConstraint(
                "tool_calls IS NULL OR role = 'assistant'", name="tool_calls_on_assistant"
            ),
        )

    # An assistant message's calls: [{"id": ..., "name": ..., "arguments": "<JSON text>"}].
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(NullableJSON, default=None)
    # A tool message: the id of the call it answers (the provider's, e.g. call_... / toolu_...).
    tool_call_id: Mapped[str | None] = mapped_column(String(128), default=None)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
