"""The recent-conversations cache: hits, invalidation, the reader/writer race, and Redis down."""

from __future__ import annotations

import uuid

from secure_chat_api.chat.cache import recent_conversations_cache
from secure_chat_api.chat.models import Conversation


async def _insert_behind_the_apis_back(app, user_id: str, title: str) -> None:
    async with app.state.db.sessionmaker() as session:
        session.add(Conversation(user_id=uuid.UUID(user_id), title=title, meta={}))
        await session.commit()


async def _titles(client, **params) -> list[str]:
    response = await client.get("/api/v1/conversations", params=params)
    assert response.status_code == 200
    return [c["title"] for c in response.json()["items"]]


async def test_first_page_is_served_from_the_cache(app, client, user, make_conversation):
    await make_conversation(title="via api")
    assert await _titles(client) == ["via api"]
    # A row the API did not write is invisible until the cache entry goes: proof of a hit.
    await _insert_behind_the_apis_back(app, user.id, "sneaky")
    assert await _titles(client) == ["via api"]


async def test_every_write_invalidates(client, make_conversation):
    conversation = await make_conversation(title="first")
    path = f"/api/v1/conversations/{conversation['id']}"

    assert await _titles(client) == ["first"]
    await make_conversation(title="second")
    assert await _titles(client) == ["second", "first"]

    await client.patch(path, json={"title": "renamed"})
    assert await _titles(client) == ["second", "renamed"]

    await _titles(client)
    before = (await client.get("/api/v1/conversations")).json()
    await client.post(f"{path}/messages", json={"role": "user", "content": "hi"})
    after = (await client.get("/api/v1/conversations")).json()
    assert after["items"][1]["updated_at"] > before["items"][1]["updated_at"]

    await client.delete(path)
    assert await _titles(client) == ["second"]


async def test_a_racing_reader_never_leaves_a_stale_read_behind(
    app, client, user, make_conversation
):
    """Reader: read generation, read DB (old). Writer: commit, bump. Reader: store the old page.

    The stale page lands under the old generation, so the next read after the write is fresh.
    """
    user_id = uuid.UUID(user.id)
    await make_conversation(title="old")
    cache = recent_conversations_cache(app.state.cache, ttl_seconds=60)

    generation = await cache.generation(user_id)
    stale_page = (await client.get("/api/v1/conversations", params={"limit": 5})).json()
    await make_conversation(title="new")  # commits, then bumps the generation
    from genai_shared.db.pagination import Page
    from secure_chat_api.chat.schemas import ConversationPublic

    stale = Page[ConversationPublic].model_validate(stale_page)
    await cache.put(user_id, generation, stale, variant="limit20")

    assert await _titles(client) == ["new", "old"]


async def test_write_failure_leaves_cache_and_data_untouched(client, make_conversation):
    await make_conversation(title="kept")
    assert await _titles(client) == ["kept"]
    response = await client.post("/api/v1/conversations", json={"title": ""})
    assert response.status_code == 422
    assert await _titles(client) == ["kept"]


async def test_list_still_works_when_redis_is_down(
    sqlite_url, asgi_client, settings_factory, signup
):
    """A configured but unreachable Redis degrades to the database; readiness says why.

    Non-chat routes fail open when the rate limiter cannot be reached (see test_ratelimit).
    """
    from secure_chat_api.core.database import Base
    from secure_chat_api.main import create_app

    settings = settings_factory(
        database_url=sqlite_url,
        redis_url="redis://127.0.0.1:1/0",
        redis_timeout_seconds=0.2,
    )
    app = create_app(settings)
    async with asgi_client(app) as client:
        async with app.state.db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        account = await signup(client, "a@b.co")
        client.headers.update(account.headers)
        await client.post("/api/v1/conversations", json={"title": "t"})
        assert await _titles(client) == ["t"]
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"]["status"] == "error"
        assert ready.json()["checks"]["database"]["status"] == "ok"
