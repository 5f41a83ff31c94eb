"""Project 01's conversation and message tables: the shared columns and relationships
(``genai_shared.chat.models``) on this project's own ``Base``."""

from __future__ import annotations

from chat_api_with_db.core.database import Base
from genai_shared.chat.models import ConversationColumns, MessageColumns


class Conversation(ConversationColumns, Base):
    __tablename__ = "conversation"


class Message(MessageColumns, Base):
    __tablename__ = "message"
