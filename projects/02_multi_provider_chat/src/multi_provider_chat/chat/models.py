"""Project 02's conversation and message tables: the shared columns and relationships
(``genai_shared.chat.models``) on this project's own ``Base``."""

from __future__ import annotations

from genai_shared.chat.models import ChatMessageColumns, ConversationColumns
from multi_provider_chat.core.database import Base


class Conversation(ConversationColumns, Base):
    __tablename__ = "conversation"


class Message(ChatMessageColumns, Base):
    __tablename__ = "message"
