"""Sliding-window-log rate limiters: one on Redis (one Lua script), one in-process.

Why a sliding *log* and not a token bucket or a fixed window: a limit of N per minute
here means exactly N in any 60 seconds, with no burst at a window edge (fixed window) and
no refill slack (a token bucket refills continuously, so a burst of 3N requests over
one second lets a few more than N through). The price is one sorted-set member per
accepted request, which is small at per-user limits of tens or hundreds a minute.

The Redis script trims expired entries, counts, and admits or refuses in one atomic
step, with Redis's own clock, so any number of worker processes share one exact limit.
Refused requests are not recorded: a client hammering a limit does not extend it.
Each app passes its own key ``namespace``: two apps may share one Redis.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

# Redis's clock in milliseconds: every worker's scripts agree on "now".
NOW_MS_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# The sliding window as a Lua function, for this limiter's script and for scripts that
# check a rate limit as one step of something larger (project 05 admits a call's rate
# limit and budget reservation in one script). Counts ``member`` in ``key``'s window if
# there is room; gives back allowed (1|0), the room left, and the ms until the oldest
# counted entry leaves the window.
SLIDING_WINDOW_FUNCTION_LUA = """
local function sliding_window(key, window, limit, member, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local allowed = 0
  if count < limit then
    redis.call('ZADD', key, now, member)
    count = count + 1
    allowed = 1
  end
  redis.call('PEXPIRE', key, window)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local reset = window
  if oldest[2] then
    reset = tonumber(oldest[2]) + window - now
  end
  return allowed, limit - count, reset
end
"""

# KEYS[1] the window's sorted set; ARGV: window (ms), limit, a unique member id.
# Returns {allowed (1|0), remaining, ms until the oldest entry leaves the window}.
SLIDING_WINDOW_LUA = (
    NOW_MS_LUA
    + SLIDING_WINDOW_FUNCTION_LUA
    + """
local allowed, remaining, reset = sliding_window(
  KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], now)
return {allowed, remaining, reset}
"""
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until a slot frees up (the oldest counted request leaves)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


def _seconds(ms: float) -> int:
    # Whole milliseconds first: float noise (t + 60 - t = 60.000000001) must not round a
    # full window up to 61 s. Then round up, and never 0.
    return max(1, -(-round(ms) // 1000))


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_seconds: int) -> Decision:
        """Count one request against ``key`` if there is room; say whether there was."""
        ...


class RedisRateLimiter:
    """Shared by every worker. Calls are bounded by the client's socket timeouts."""

    def __init__(self, client: Redis, *, namespace: str) -> None:
        self.namespace = namespace
        self._script = client.register_script(SLIDING_WINDOW_LUA)

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> Decision:
        allowed, remaining, reset_ms = await self._script(
            keys=[f"{self.namespace}:{key}"],
            args=[window_seconds * 1000, limit, uuid.uuid4().hex],
        )
        return Decision(
            allowed=bool(allowed),
            limit=limit,
            remaining=int(remaining),
            reset_seconds=_seconds(float(reset_ms)),
        )


class MemoryRateLimiter:
    """The same algorithm in process memory: for embedded defaults, one process only."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, deque[float]] = {}

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> Decision:
        # No await between reading and writing: atomic within the event loop.
        now = self._clock()
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - window_seconds:
            window.popleft()
        allowed = len(window) < limit
        if allowed:
            window.append(now)
        reset = (window[0] + window_seconds - now) if window else window_seconds
        return Decision(
            allowed=allowed,
            limit=limit,
            remaining=limit - len(window),
            reset_seconds=_seconds(reset * 1000),
        )
