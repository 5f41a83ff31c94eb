"""The cache of a user's recent conversations, as a dependency routes and services take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from genai_shared.cache import Cache
from genai_shared.chat.cache import RecentConversationsCache, recent_conversations_cache
from genai_shared.settings import BaseAppSettings
from genai_shared.web.dependencies import BaseSettingsDep, CacheDep


def recent_conversations_for(cache: Cache, settings: BaseAppSettings) -> RecentConversationsCache:
    """The app's cache of recent conversations, under its own namespace and TTL."""
    return recent_conversations_cache(
        cache,
        namespace=f"{settings.cache_namespace}conversations",
        ttl_seconds=settings.cache_ttl_seconds,
    )


async def get_recent_conversations(
    cache: CacheDep, settings: BaseSettingsDep
) -> RecentConversationsCache:
    return recent_conversations_for(cache, settings)


RecentConversationsDep = Annotated[RecentConversationsCache, Depends(get_recent_conversations)]
