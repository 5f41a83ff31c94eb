"""Project 01's conversation and message bodies: the shared ones (``genai_shared.chat``),
and a create body that names the owner, since this project has no sign-in yet."""

from __future__ import annotations

import uuid

from genai_shared.chat import schemas as shared
from genai_shared.chat.schemas import (
    MAX_MESSAGE_CHARS,
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
    MessagePublic,
    MessageRole,
)

__all__ = [
    "MAX_MESSAGE_CHARS",
    "ConversationCreate",
    "ConversationPublic",
    "ConversationUpdate",
    "MessageCreate",
    "MessagePublic",
    "MessageRole",
]


class ConversationCreate(shared.ConversationCreate):
    user_id: uuid.UUID
