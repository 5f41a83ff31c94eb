"""The recent-conversations cache, from the shared contract."""

from __future__ import annotations

from chat_api_with_db.chat.models import Conversation
from genai_shared.testing.contracts.cache import RecentConversationsCacheContract


class TestRecentConversationsCache(RecentConversationsCacheContract):
    conversation_model = Conversation
