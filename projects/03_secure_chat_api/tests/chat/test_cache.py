"""The recent-conversations cache, from the shared contract.

With Redis down, non-chat routes fail open when the rate limiter cannot be reached either
(see ratelimit/): the contract's Redis-down test lists conversations through it.
"""

from __future__ import annotations

from genai_shared.testing.contracts.cache import RecentConversationsCacheContract
from secure_chat_api.chat.models import Conversation


class TestRecentConversationsCache(RecentConversationsCacheContract):
    conversation_model = Conversation
