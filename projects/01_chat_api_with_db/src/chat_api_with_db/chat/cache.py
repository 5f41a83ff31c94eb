"""Cache-aside for a user's most recent conversations (the first page of the list).

Keys carry a per-user generation number that every committed write bumps (see
``genai_shared.cache``), so a read that starts after a write has committed can never
see the list from before it. Redis trouble degrades to a cache miss: the database still
answers, and a log line says why the cache was skipped.
"""

from __future__ import annotations

import logging
import uuid

from genai_shared.cache import Cache
from genai_shared.db.pagination import Page
from pydantic import TypeAdapter
from redis.exceptions import RedisError

from chat_api_with_db.chat.schemas import ConversationPublic

logger = logging.getLogger(__name__)
_page_adapter = TypeAdapter(Page[ConversationPublic])
CACHE_ERRORS = (RedisError, OSError, TimeoutError)


class RecentConversationsCache:
    def __init__(self, cache: Cache, *, ttl_seconds: int, namespace: str = "chat01") -> None:
        self.cache = cache
        self.ttl_seconds = ttl_seconds
        self.namespace = namespace

    def _generation_key(self, user_id: uuid.UUID) -> str:
        return f"{self.namespace}:user:{user_id}:conversations:generation"

    def _page_key(self, user_id: uuid.UUID, generation: str, limit: int) -> str:
        return f"{self.namespace}:user:{user_id}:conversations:g{generation}:limit{limit}"

    async def generation(self, user_id: uuid.UUID) -> str | None:
        """The current generation, or None when the cache cannot be reached."""
        try:
            raw = await self.cache.get(self._generation_key(user_id))
        except CACHE_ERRORS as exc:
            logger.warning("cache unavailable, reading from the database: %s", type(exc).__name__)
            return None
        return raw.decode() if raw is not None else "0"

    async def get(
        self, user_id: uuid.UUID, generation: str, limit: int
    ) -> Page[ConversationPublic] | None:
        try:
            raw = await self.cache.get(self._page_key(user_id, generation, limit))
        except CACHE_ERRORS as exc:
            logger.warning("cache read failed: %s", type(exc).__name__)
            return None
        return _page_adapter.validate_json(raw) if raw is not None else None

    async def put(
        self, user_id: uuid.UUID, generation: str, limit: int, page: Page[ConversationPublic]
    ) -> None:
        try:
            await self.cache.set(
                self._page_key(user_id, generation, limit),
                _page_adapter.dump_json(page),
                self.ttl_seconds,
            )
        except CACHE_ERRORS as exc:
            logger.warning("cache write failed: %s", type(exc).__name__)

    async def invalidate(self, user_id: uuid.UUID) -> None:
        """Move the user to a new generation: every cached page of theirs is now unreachable."""
        await self.cache.incr(self._generation_key(user_id))
