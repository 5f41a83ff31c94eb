"""Project 03's API bodies: the shared ones (``genai_shared.chat``). A conversation's
owner is the caller, so the create body names none (a ``user_id`` in it is refused)."""

from __future__ import annotations

from genai_shared.chat.schemas import (
    MAX_MESSAGE_CHARS,
    ChatTurnRequest,
    ChatTurnResponse,
    ConversationCreate,
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
