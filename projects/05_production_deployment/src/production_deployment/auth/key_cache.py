"""API keys verified from process memory, for at most ``API_KEY_CACHE_SECONDS`` (<= 1 s).

Without it every gateway call spends a PostgreSQL transaction (about 1 ms) finding the
key and its user. With it, a worker looks a key up once a second at most; the check of
the key itself (the keyed hash compared in constant time) still runs on every request.

Revocation reaches every worker within one second, by construction: no entry is trusted
for longer than that, whatever happened in another process. In the worker that revoked
the key (or changed the user), the entry is dropped at once. A negative answer (an unknown
prefix) is never cached, so a key created a moment ago works on its first call.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from production_deployment.users.models import User

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class CachedKey:
    key_hash: str
    api_key_id: uuid.UUID
    scopes: frozenset[str]
    revoked: bool
    expires_at: datetime | None
    user: User  # detached: read only


class ApiKeyCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, CachedKey]] = {}
        self._loading: dict[str, asyncio.Future[CachedKey | None]] = {}

    async def lookup(
        self, prefix: str, load: Callable[[], Awaitable[CachedKey | None]]
    ) -> CachedKey | None:
        """The cached entry, else ``load()``'s, shared by every request that asks for the
        same key meanwhile: when an entry expires under load, one query refills it, not
        one per request in flight."""
        entry = self.get(prefix)
        if entry is not None or self.ttl <= 0:
            return entry if entry is not None else await load()
        loading = self._loading.get(prefix)
        if loading is None:
            # Trusted from when the rows were read, not from when the answer arrived.
            read_at = self.clock()
            loading = asyncio.ensure_future(load())
            self._loading[prefix] = loading

            def loaded(future: asyncio.Future[CachedKey | None]) -> None:
                # Cached here, the moment the load ends: not by the first waiter when it
                # resumes (requests arriving in between would load again), and even when
                # every waiter has gone (cancelled) meanwhile.
                self._loading.pop(prefix, None)
                if future.cancelled() or future.exception() is not None:
                    return
                if (result := future.result()) is not None:
                    self.put(prefix, result, stored_at=read_at)

            loading.add_done_callback(loaded)
        return await asyncio.shield(loading)

    def get(self, prefix: str) -> CachedKey | None:
        if self.ttl <= 0:
            return None
        found = self._entries.get(prefix)
        if found is None:
            return None
        stored_at, entry = found
        if self.clock() - stored_at > self.ttl:
            del self._entries[prefix]
            return None
        return entry

    def put(self, prefix: str, entry: CachedKey, *, stored_at: float | None = None) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # a bound, not an LRU: refilled at one lookup per key
        self._entries[prefix] = (self.clock() if stored_at is None else stored_at, entry)

    def evict_key(self, api_key_id: uuid.UUID) -> None:
        for prefix, (_, entry) in list(self._entries.items()):
            if entry.api_key_id == api_key_id:
                del self._entries[prefix]

    def evict_user(self, user_id: uuid.UUID) -> None:
        for prefix, (_, entry) in list(self._entries.items()):
            if entry.user.id == user_id:
                del self._entries[prefix]
