"""A small cache interface with a Redis and an in-process implementation.

The projects use it for cache-aside reads. Invalidation is by *generation*: a cached
value's key includes a per-owner generation number, and every committed write bumps it.
A reader that raced a writer may still store a value under the old generation, but no
reader ever looks there again, so a read that starts after a write has committed is
never stale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis


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
