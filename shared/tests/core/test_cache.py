from __future__ import annotations

import pytest

from genai_shared.cache import MemoryCache, RedisCache, build_cache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _exercise(cache) -> None:
    assert await cache.get("k") is None
    await cache.set("k", b"v", 30)
    assert await cache.get("k") == b"v"
    assert await cache.incr("n") == 1
    assert await cache.incr("n") == 2
    await cache.delete("k", "n")
    assert await cache.get("k") is None
    assert await cache.get("n") is None
    await cache.delete()  # deleting nothing is fine
    await cache.ping()


async def test_memory_cache_contract():
    await _exercise(MemoryCache())


async def test_memory_cache_expires_entries():
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", 10)
    clock.now += 9.9
    assert await cache.get("k") == b"v"
    clock.now += 0.2
    assert await cache.get("k") is None


async def test_redis_cache_contract_on_fakeredis(fake_redis):
    await _exercise(RedisCache(fake_redis))


async def test_redis_cache_ttl_on_fakeredis(fake_redis):
    await RedisCache(fake_redis).set("k", b"v", 42)
    assert 0 < await fake_redis.ttl("k") <= 42


@pytest.mark.integration
async def test_redis_cache_contract_on_real_redis(redis_client, redis_url):
    cache = RedisCache.from_url(redis_url)
    try:
        await _exercise(cache)
        await cache.set("ttl", b"x", 5)
        assert 0 < await redis_client.ttl("ttl") <= 5
    finally:
        await cache.aclose()


async def test_unreachable_redis_fails_fast():
    cache = RedisCache.from_url("redis://127.0.0.1:1/0", timeout_seconds=0.2)
    with pytest.raises(Exception):  # noqa: B017, PT011 - any connection error, quickly
        await cache.get("k")
    await cache.aclose()


def test_build_cache_picks_by_url():
    assert isinstance(build_cache(None), MemoryCache)
    assert isinstance(build_cache("redis://127.0.0.1:6379/0"), RedisCache)
