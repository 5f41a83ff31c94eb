from __future__ import annotations

from genai_shared.web.errors import NotFound


class ConversationNotFound(NotFound):
    message = "Conversation not found"
