"""The recent-conversations cache's ``on_lookup`` hook, and the cache built once per app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, Request

from genai_shared.cache import MemoryCache, RedisCache
from genai_shared.chat.cache import RecentConversationsCache, recent_conversations_cache
from genai_shared.chat.dependencies import (
    get_recent_conversations,
    install_recent_conversations,
)
from genai_shared.chat.schemas import ConversationPublic
from genai_shared.db.pagination import Page
from genai_shared.settings import BaseAppSettings

OWNER = uuid.uuid4()


def _page(title: str) -> Page[ConversationPublic]:
    now = datetime.now(UTC)
    conversation = ConversationPublic.model_validate(
        {
            "id": uuid.uuid4(),
            "user_id": OWNER,
            "title": title,
            "meta": {},
            "created_at": now,
            "updated_at": now,
        }
    )
    return Page[ConversationPublic](items=[conversation], next_cursor=None)


def _counted(cache: object) -> tuple[RecentConversationsCache, list[bool]]:
    seen: list[bool] = []
    recent = recent_conversations_cache(
        cache,  # type: ignore[arg-type]
        namespace="t:conversations",
        ttl_seconds=60,
        on_lookup=seen.append,
    )
    return recent, seen


class TestOnLookup:
    async def test_a_miss_then_a_hit_then_a_miss_after_a_write(self) -> None:
        recent, seen = _counted(MemoryCache())

        generation, page = await recent.lookup(OWNER, "limit20")
        assert (generation, page, seen) == ("0", None, [False])

        stored = _page("first")
        await recent.put(OWNER, "0", stored, variant="limit20")
        generation, page = await recent.lookup(OWNER, "limit20")
        assert (generation, page, seen) == ("0", stored, [False, True])

        await recent.invalidate(OWNER)
        generation, page = await recent.lookup(OWNER, "limit20")
        assert (generation, page, seen) == ("1", None, [False, True, False])

    async def test_each_page_size_is_its_own_entry(self) -> None:
        recent, seen = _counted(MemoryCache())
        await recent.put(OWNER, "0", _page("x"), variant="limit20")
        assert (await recent.lookup(OWNER, "limit5"))[1] is None
        assert (await recent.lookup(OWNER, "limit20"))[1] is not None
        assert seen == [False, True]

    async def test_an_unreachable_cache_is_one_miss(self) -> None:
        """The database answers instead: a miss, counted once, and no generation to fill."""
        unreachable = RedisCache.from_url("redis://127.0.0.1:1/0", timeout_seconds=0.2)
        try:
            recent, seen = _counted(unreachable)
            assert await recent.lookup(OWNER, "limit20") == (None, None)
            assert seen == [False]
        finally:
            await unreachable.aclose()

    async def test_no_hook_is_fine(self) -> None:
        recent = recent_conversations_cache(MemoryCache(), namespace="t", ttl_seconds=60)
        await recent.put(OWNER, "0", _page("x"), variant="v")
        assert (await recent.lookup(OWNER, "v"))[1] is not None


def _app() -> FastAPI:
    app = FastAPI()
    app.state.cache = MemoryCache()
    app.state.settings = BaseAppSettings(_env_file=None, app_name="t", cache_ttl_seconds=30)
    return app


def _request(app: FastAPI) -> Request:
    return Request({"type": "http", "app": app})


class TestBuiltOncePerApp:
    async def test_every_request_gets_the_same_cache(self) -> None:
        app = _app()
        first = await get_recent_conversations(_request(app))
        assert await get_recent_conversations(_request(app)) is first
        assert first.cache is app.state.cache
        assert (first.namespace, first.ttl_seconds) == ("t:conversations", 30)

    async def test_the_hook_given_where_it_is_built_counts_every_request(self) -> None:
        app = _app()
        seen: list[bool] = []
        installed = install_recent_conversations(app, app.state.settings, on_lookup=seen.append)
        recent = await get_recent_conversations(_request(app))
        assert recent is installed
        await recent.lookup(OWNER, "limit20")
        await (await get_recent_conversations(_request(app))).lookup(OWNER, "limit20")
        assert seen == [False, False]

    async def test_a_restarted_app_gets_a_cache_over_its_new_backend(self) -> None:
        app = _app()
        before = await get_recent_conversations(_request(app))
        app.state.cache = MemoryCache()  # what a second lifespan publishes
        after = await get_recent_conversations(_request(app))
        assert after is not before
        assert after.cache is app.state.cache
