"""The cache of a user's recent conversations (see ``genai_shared.chat.cache``), under
this project's own namespace."""

from __future__ import annotations

from genai_shared.cache import Cache
from genai_shared.chat import cache as shared
from genai_shared.chat.cache import RecentConversationsCache

__all__ = ["RecentConversationsCache", "recent_conversations_cache"]


def recent_conversations_cache(cache: Cache, *, ttl_seconds: int) -> RecentConversationsCache:
    return shared.recent_conversations_cache(
        cache, namespace="chat01:conversations", ttl_seconds=ttl_seconds
    )
