"""The recent-conversations cache, from the shared contract."""

from __future__ import annotations

from genai_shared.testing.contracts.cache import RecentConversationsCacheContract
from multi_provider_chat.chat.cache import recent_conversations_cache
from multi_provider_chat.chat.models import Conversation


class TestRecentConversationsCache(RecentConversationsCacheContract):
    conversation_model = Conversation
    recent_conversations_cache = recent_conversations_cache
