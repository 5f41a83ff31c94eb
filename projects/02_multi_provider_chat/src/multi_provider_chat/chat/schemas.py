"""Project 02's API bodies: the shared ones (``genai_shared.chat``), whose messages say how
an assistant reply was produced, and a create body that names the owner (no sign-in yet)."""

from __future__ import annotations

import uuid

from genai_shared.chat import schemas as shared
from genai_shared.chat.schemas import (
    MAX_MESSAGE_CHARS,
    ChatTurnRequest,
    ChatTurnResponse,
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
    MessageRole,
    MessageStatus,
)
from genai_shared.chat.schemas import ChatMessagePublic as MessagePublic

__all__ = [
    "MAX_MESSAGE_CHARS",
    "ChatTurnRequest",
    "ChatTurnResponse",
    "ConversationCreate",
    "ConversationPublic",
    "ConversationUpdate",
    "MessageCreate",
    "MessagePublic",
    "MessageRole",
    "MessageStatus",
]


class ConversationCreate(shared.ConversationCreate):
    user_id: uuid.UUID
