"""The API-key cache on its own: at most ``ttl`` seconds of trust, evictions, and one
database lookup for a burst of requests with the same key."""

from __future__ import annotations

import asyncio
import uuid

from production_deployment.auth.key_cache import ApiKeyCache, CachedKey
from production_deployment.users.models import User


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def entry(user_id: uuid.UUID | None = None) -> CachedKey:
    user = User(id=user_id or uuid.uuid4(), email="k@example.com", display_name="K")
    return CachedKey(
        key_hash="h",
        api_key_id=uuid.uuid4(),
        scopes=frozenset({"chat"}),
        revoked=False,
        expires_at=None,
        user=user,
    )


def test_an_entry_is_trusted_for_the_ttl_and_no_longer():
    clock = Clock()
    cache = ApiKeyCache(1.0, clock)
    cache.put("p", entry())
    clock.now = 1.0
    assert cache.get("p") is not None
    clock.now = 1.01
    assert cache.get("p") is None


def test_a_zero_ttl_caches_nothing():
    cache = ApiKeyCache(0)
    cache.put("p", entry())
    assert cache.get("p") is None


def test_evictions_by_key_and_by_user():
    cache = ApiKeyCache(1.0)
    mine, theirs = entry(), entry()
    cache.put("a", mine)
    cache.put("b", theirs)
    cache.evict_key(mine.api_key_id)
    assert cache.get("a") is None
    assert cache.get("b") is theirs
    cache.evict_user(theirs.user.id)
    assert cache.get("b") is None


async def test_a_burst_of_misses_makes_one_lookup():
    cache = ApiKeyCache(1.0)
    calls = 0
    found = entry()

    async def load() -> CachedKey:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return found

    results = await asyncio.gather(*(cache.lookup("p", load) for _ in range(32)))
    assert calls == 1
    assert all(result is found for result in results)
    assert await cache.lookup("p", load) is found  # now from the cache
    assert calls == 1


async def test_an_unknown_key_is_never_cached():
    cache = ApiKeyCache(1.0)
    calls = 0

    async def load() -> None:
        nonlocal calls
        calls += 1

    assert await cache.lookup("p", load) is None
    assert await cache.lookup("p", load) is None
    assert calls == 2


async def test_a_load_is_cached_when_it_ends_even_if_its_caller_has_gone():
    cache = ApiKeyCache(1.0)
    calls = 0
    found = entry()
    answer = asyncio.Event()

    async def load() -> CachedKey:
        nonlocal calls
        calls += 1
        await answer.wait()
        return found

    first = asyncio.ensure_future(cache.lookup("p", load))
    await asyncio.sleep(0)
    first.cancel()  # the client went away; the shielded lookup goes on
    answer.set()
    await asyncio.sleep(0.01)
    assert cache.get("p") is found
    assert await cache.lookup("p", load) is found
    assert calls == 1


async def test_an_entry_is_trusted_from_when_it_was_read():
    clock = Clock()
    cache = ApiKeyCache(1.0, clock)
    found = entry()

    async def slow_load() -> CachedKey:
        clock.now += 0.6  # the query took 0.6 s: the rows are that old when cached
        return found

    assert await cache.lookup("p", slow_load) is found
    clock.now = 1.0
    assert cache.get("p") is found
    clock.now = 1.01  # over a second since the read, though 0.41 s since it was cached
    assert cache.get("p") is None
