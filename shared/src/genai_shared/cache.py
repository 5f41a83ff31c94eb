"""A small cache interface with a Redis and an in-process implementation.

The projects use it for cache-aside reads. Invalidation is by *generation*: a cached
value's key includes a per-owner generation number, and every committed write bumps it.
A reader that raced a writer may still store a value under the old generation, but no
reader ever looks there again, so a read that starts after a write has committed is
never stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
T = TypeVar("T")
CACHE_ERRORS = (RedisError, OSError, TimeoutError)


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def incr(self, key: str) -> int: ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


class MemoryCache:
    """Process-local cache for development and single-process runs (not shared by workers)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lock = asyncio.Lock()
        self._now = clock

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at is not None and expires_at <= self._now():
            self._data.pop(key, None)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._data[key] = (value, self._now() + ttl_seconds)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(key, None)

    async def incr(self, key: str) -> int:
        async with self._lock:
            current = await self.get(key)
            value = int(current or b"0") + 1
            self._data[key] = (str(value).encode(), None)
            return value

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._data.clear()


class RedisCache:
    """Cache on Redis (``redis.asyncio``); every call is bounded by the client's timeouts."""

    def __init__(self, client: Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str, *, timeout_seconds: float = 0.5) -> RedisCache:
        client = Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            health_check_interval=30,
        )
        return cls(client)

    async def get(self, key: str) -> bytes | None:
        value: bytes | str | None = await self.client.get(key)
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self.client.set(key, value, ex=ttl_seconds)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self.client.delete(*keys)

    async def incr(self, key: str) -> int:
        return int(await self.client.incr(key))

    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        await self.client.aclose()


def build_cache(redis_url: str | None, *, timeout_seconds: float = 0.5) -> Cache:
    """Redis when a URL is configured, otherwise the in-process cache."""
    if redis_url:
        return RedisCache.from_url(redis_url, timeout_seconds=timeout_seconds)
    return MemoryCache()


@lru_cache(maxsize=64)
def _adapter_for(value_type: Any) -> TypeAdapter[Any]:
    """One TypeAdapter per type: building one compiles a schema (milliseconds), and a
    ``GenerationalCache`` is created per request by the projects' dependencies."""
    return TypeAdapter(value_type)


class GenerationalCache(Generic[T]):
    """Cache-aside values per owner, invalidated by bumping the owner's generation.

    Read path: ``generation = await c.generation(owner)`` *before* reading the database,
    then ``get``; on a miss read the database and ``put`` under that same generation.
    Write path: after the write has committed, ``invalidate(owner)``. A reader that raced
    the writer stores its (old) value under the old generation, which nobody reads again.
    Cache trouble is a miss, never an error: the database still answers.
    """

    def __init__(
        self, cache: Cache, value_type: type[T], *, namespace: str, ttl_seconds: int
    ) -> None:
        self.cache = cache
        self.adapter: TypeAdapter[T] = _adapter_for(value_type)  # type: ignore[arg-type]
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds

    def _generation_key(self, owner: object) -> str:
        return f"{self.namespace}:{owner}:generation"

    def _value_key(self, owner: object, generation: str, variant: str) -> str:
        return f"{self.namespace}:{owner}:g{generation}:{variant}"

    async def generation(self, owner: object) -> str | None:
        """The owner's current generation, or None when the cache cannot be reached."""
        try:
            raw = await self.cache.get(self._generation_key(owner))
        except CACHE_ERRORS as exc:
            logger.warning("cache unavailable, reading from the database: %s", type(exc).__name__)
            return None
        return raw.decode() if raw is not None else "0"

    async def get(self, owner: object, generation: str, variant: str = "") -> T | None:
        try:
            raw = await self.cache.get(self._value_key(owner, generation, variant))
        except CACHE_ERRORS as exc:
            logger.warning("cache read failed: %s", type(exc).__name__)
            return None
        return self.adapter.validate_json(raw) if raw is not None else None

    async def put(self, owner: object, generation: str, value: T, variant: str = "") -> None:
        try:
            await self.cache.set(
                self._value_key(owner, generation, variant),
                self.adapter.dump_json(value),
                self.ttl_seconds,
            )
        except CACHE_ERRORS as exc:
            logger.warning("cache write failed: %s", type(exc).__name__)

    async def invalidate(self, owner: object) -> None:
        """Move the owner to a new generation: every value cached for it is now unreachable."""
        await self.cache.incr(self._generation_key(owner))
