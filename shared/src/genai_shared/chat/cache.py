"""Cache-aside for a user's most recent conversations (the first page of the list).

Keys carry a per-user generation number that every committed write bumps (see
``genai_shared.cache.GenerationalCache``), so a read that starts after a write has
committed can never see the list from before it. Redis trouble degrades to a cache
miss: the database still answers, and a log line says why the cache was skipped.

Whoever builds the cache may give it ``on_lookup``: called once per first-page lookup
with ``True`` for a hit, ``False`` for a miss (an unreachable cache is a miss, since the
database answered). A project counts hits with it (a metric, say) without subclassing.
"""

from __future__ import annotations

from collections.abc import Callable

from genai_shared.cache import Cache, GenerationalCache
from genai_shared.chat.schemas import ConversationPublic
from genai_shared.db.pagination import Page

LookupHook = Callable[[bool], None]


class RecentConversationsCache(GenerationalCache[Page[ConversationPublic]]):
    """A user's first pages of conversations, per page size (``variant``)."""

    def __init__(
        self,
        cache: Cache,
        *,
        namespace: str,
        ttl_seconds: int,
        on_lookup: LookupHook | None = None,
    ) -> None:
        super().__init__(
            cache, Page[ConversationPublic], namespace=namespace, ttl_seconds=ttl_seconds
        )
        self.on_lookup = on_lookup

    async def lookup(
        self, owner: object, variant: str = ""
    ) -> tuple[str | None, Page[ConversationPublic] | None]:
        """The owner's generation (None: the cache is unreachable) and the page cached
        under it (None: a miss). A miss is filled with ``put`` under that generation."""
        generation = await self.generation(owner)
        page = None if generation is None else await self.get(owner, generation, variant)
        if self.on_lookup is not None:
            self.on_lookup(page is not None)
        return generation, page


def recent_conversations_cache(
    cache: Cache, *, namespace: str, ttl_seconds: int, on_lookup: LookupHook | None = None
) -> RecentConversationsCache:
    """The cache under ``namespace`` (one per project: two apps may share one Redis)."""
    return RecentConversationsCache(
        cache, namespace=namespace, ttl_seconds=ttl_seconds, on_lookup=on_lookup
    )
