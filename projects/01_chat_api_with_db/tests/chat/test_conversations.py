"""The conversations API, from the shared contracts; a request names its owner's ``user_id``."""

from __future__ import annotations

from chat_api_with_db.chat.models import Message
from genai_shared.testing.contracts import conversations


class TestConversations(conversations.ConversationsContract, conversations.UserIdInRequestContract):
    message_model = Message


class TestInput(conversations.ConversationInputContract):
    """The same checks run on both backends here."""
