"""The conversations API, from the shared contracts; a request names its owner's ``user_id``."""

from __future__ import annotations

from genai_shared.testing.contracts import conversations
from multi_provider_chat.chat.models import Message


class TestConversations(conversations.ConversationsContract, conversations.UserIdInRequestContract):
    message_model = Message


class TestInput(conversations.ConversationInputContract):
    """The same checks run on both backends here."""
