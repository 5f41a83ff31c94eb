"""The recent-conversations cache, from the shared contract."""

from __future__ import annotations

from genai_shared.testing.contracts.cache import RecentConversationsCacheContract
from multi_provider_chat.chat.models import Conversation


class TestRecentConversationsCache(RecentConversationsCacheContract):
    conversation_model = Conversation
