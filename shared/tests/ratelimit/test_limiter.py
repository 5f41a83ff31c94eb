"""The two limiters, one algorithm: the in-process one here, the Lua one on the real Redis.

fakeredis cannot run Lua here, so the Redis limiter is only tested against Redis itself
(``redis_client`` from the plugin, an integration test). Projects 03 to 05 use both; their
own ``tests/ratelimit`` check the limits over HTTP and across workers.
"""

from __future__ import annotations

import asyncio

import pytest

from genai_shared.ratelimit.limiter import MemoryRateLimiter, RedisRateLimiter, _seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestMemoryLimiter:
    async def test_admits_exactly_the_limit_then_slides(self):
        clock = Clock()
        limiter = MemoryRateLimiter(clock)
        decisions = [await limiter.hit("k", limit=3, window_seconds=60) for _ in range(5)]
        assert [d.allowed for d in decisions] == [True, True, True, False, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
        assert decisions[-1].reset_seconds == 60
        assert decisions[-1].headers()["Retry-After"] == "60"
        clock.now += 30
        assert not (await limiter.hit("k", limit=3, window_seconds=60)).allowed
        clock.now += 30.001  # the first three leave the window together
        after = await limiter.hit("k", limit=3, window_seconds=60)
        assert (after.allowed, after.remaining) == (True, 2)

    async def test_refusals_are_not_counted(self):
        clock = Clock()
        limiter = MemoryRateLimiter(clock)
        await limiter.hit("k", limit=1, window_seconds=10)
        for _ in range(5):
            clock.now += 1
            await limiter.hit("k", limit=1, window_seconds=10)
        clock.now += 5  # 10 s after the only admitted request
        assert (await limiter.hit("k", limit=1, window_seconds=10)).allowed

    async def test_keys_are_independent(self):
        limiter = MemoryRateLimiter()
        assert (await limiter.hit("a", limit=1, window_seconds=60)).allowed
        assert (await limiter.hit("b", limit=1, window_seconds=60)).allowed
        assert not (await limiter.hit("a", limit=1, window_seconds=60)).allowed

    async def test_headers_on_success(self):
        decision = await MemoryRateLimiter().hit("k", limit=5, window_seconds=60)
        assert decision.headers() == {
            "RateLimit-Limit": "5",
            "RateLimit-Remaining": "4",
            "RateLimit-Reset": "60",
        }


@pytest.mark.integration
class TestRedisLimiter:
    async def test_concurrent_hits_admit_exactly_the_limit(self, redis_client):
        limiter = RedisRateLimiter(redis_client, namespace="test")
        decisions = await asyncio.gather(
            *(limiter.hit("user:1", limit=10, window_seconds=60) for _ in range(30))
        )
        assert sum(d.allowed for d in decisions) == 10
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))
        refused = [d for d in decisions if not d.allowed]
        assert all(d.remaining == 0 and 1 <= d.reset_seconds <= 60 for d in refused)
        assert await redis_client.zcard("test:user:1") == 10
        assert 0 < await redis_client.pttl("test:user:1") <= 60_000

    async def test_the_window_slides(self, redis_client):
        limiter = RedisRateLimiter(redis_client, namespace="test")
        assert (await limiter.hit("k", limit=1, window_seconds=1)).allowed
        assert not (await limiter.hit("k", limit=1, window_seconds=1)).allowed
        await asyncio.sleep(1.05)
        assert (await limiter.hit("k", limit=1, window_seconds=1)).allowed

    async def test_keys_are_independent_and_the_script_survives_a_flush(self, redis_client):
        limiter = RedisRateLimiter(redis_client, namespace="test")
        assert (await limiter.hit("a", limit=1, window_seconds=60)).allowed
        assert (await limiter.hit("b", limit=1, window_seconds=60)).allowed
        await redis_client.script_flush()  # EVALSHA misses: redis-py loads the script again
        assert not (await limiter.hit("a", limit=1, window_seconds=60)).allowed


def test_a_full_window_is_never_reported_as_a_second_more():
    assert _seconds(60 * 1000 + 1e-9) == 60  # float noise of t + 60 - t
    assert _seconds(60_000.6) == 61  # a real fraction of a second more still rounds up
    assert _seconds(0.2) == 1
