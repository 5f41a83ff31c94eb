"""Project 02's own request body: a conversation names its owner, since there is no sign-in
yet. Every other body is the shared one (``genai_shared.chat.schemas``)."""

from __future__ import annotations

import uuid

from genai_shared.chat import schemas as shared


class ConversationCreate(shared.ConversationCreate):
    user_id: uuid.UUID
