"""Cache-aside for a user's most recent conversations (the first page of the list).

Keys carry a per-user generation number that every committed write bumps (see
``genai_shared.cache.GenerationalCache``), so a read that starts after a write has
committed can never see the list from before it. Redis trouble degrades to a cache
miss: the database still answers, and a log line says why the cache was skipped.
"""

from __future__ import annotations

from genai_shared.cache import Cache, GenerationalCache
from genai_shared.chat.schemas import ConversationPublic
from genai_shared.db.pagination import Page

RecentConversationsCache = GenerationalCache[Page[ConversationPublic]]


def recent_conversations_cache(
    cache: Cache, *, namespace: str, ttl_seconds: int
) -> RecentConversationsCache:
    """The cache under ``namespace`` (one per project: two apps may share one Redis)."""
    return GenerationalCache(
        cache, Page[ConversationPublic], namespace=namespace, ttl_seconds=ttl_seconds
    )
