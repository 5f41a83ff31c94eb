"""The recent-conversations cache: hits, invalidation, the reader/writer race, Redis down.

Fixtures a project's conftest provides:

- ``app``, ``client``: the app under test and an ``httpx.AsyncClient`` on it, tables created.
- ``owner``: the ``Owner`` whose conversation list is cached.
- ``app_factory``: ``app_factory(**settings)`` builds the project's app with these settings
  (over the project's test defaults, where it has some), tables not created.
- ``register_owner``: ``await register_owner(client)`` signs a new ``Owner`` up through any
  client, for an app a test builds itself.

Class attributes a subclass sets:

- ``conversation_model``: the ``Conversation`` model, to insert behind the API's back (its
  ``metadata`` gives the tables of an app a test builds itself).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import httpx
from fastapi import FastAPI

from genai_shared.chat.dependencies import recent_conversations_for
from genai_shared.testing.contracts.support import (
    CONVERSATIONS,
    AppFactory,
    Owner,
    RegisterOwner,
    conversation_titles,
    create_conversation,
    list_conversations,
    new_conversation,
    serve_with_tables,
)


class RecentConversationsCacheContract:
    """The first page of a list comes from the cache, and no write leaves it stale."""

    conversation_model: ClassVar[type[Any]]

    async def _insert_behind_the_apis_back(self, app: FastAPI, owner: Owner, title: str) -> None:
        async with app.state.db.sessionmaker() as session:
            session.add(self.conversation_model(user_id=uuid.UUID(owner.id), title=title, meta={}))
            await session.commit()

    async def test_first_page_is_served_from_the_cache(
        self, app: FastAPI, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        await new_conversation(client, owner, title="via api")
        assert await conversation_titles(client, owner) == ["via api"]
        # A row the API did not write is invisible until the cache entry goes: proof of a hit.
        await self._insert_behind_the_apis_back(app, owner, "sneaky")
        assert await conversation_titles(client, owner) == ["via api"]

    async def test_every_write_invalidates(self, client: httpx.AsyncClient, owner: Owner) -> None:
        conversation = await new_conversation(client, owner, title="first")
        path = f"{CONVERSATIONS}/{conversation['id']}"

        assert await conversation_titles(client, owner) == ["first"]
        await new_conversation(client, owner, title="second")
        assert await conversation_titles(client, owner) == ["second", "first"]

        await client.patch(path, json={"title": "renamed"})
        assert await conversation_titles(client, owner) == ["second", "renamed"]

        await conversation_titles(client, owner)
        before = (await list_conversations(client, owner)).json()
        await client.post(f"{path}/messages", json={"role": "user", "content": "hi"})
        after = (await list_conversations(client, owner)).json()
        assert after["items"][1]["updated_at"] > before["items"][1]["updated_at"]

        await client.delete(path)
        assert await conversation_titles(client, owner) == ["second"]

    async def test_a_racing_reader_never_leaves_a_stale_read_behind(
        self, app: FastAPI, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        """Reader: read generation, read DB (old). Writer: commit, bump. Reader: store the old page.

        The stale page lands under the old generation, so the next read after the write is fresh.
        """
        user_id = uuid.UUID(owner.id)
        await new_conversation(client, owner, title="old")
        cache = recent_conversations_for(app.state.cache, app.state.settings)

        generation = await cache.generation(user_id)
        assert generation is not None
        stale_page = (await list_conversations(client, owner, limit=5)).json()
        await new_conversation(client, owner, title="new")  # commits, then bumps the generation
        stale = cache.adapter.validate_python(stale_page)
        await cache.put(user_id, generation, stale, variant="limit20")

        assert await conversation_titles(client, owner) == ["new", "old"]

    async def test_write_failure_leaves_cache_and_data_untouched(
        self, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        await new_conversation(client, owner, title="kept")
        assert await conversation_titles(client, owner) == ["kept"]
        response = await create_conversation(client, owner, title="")
        assert response.status_code == 422
        assert await conversation_titles(client, owner) == ["kept"]

    async def test_list_still_works_when_redis_is_down(
        self, app_factory: AppFactory, register_owner: RegisterOwner, sqlite_url: str
    ) -> None:
        """A configured but unreachable Redis degrades to the database; readiness says why."""
        app = app_factory(
            database_url=sqlite_url, redis_url="redis://127.0.0.1:1/0", redis_timeout_seconds=0.2
        )
        async with serve_with_tables(app, self.conversation_model.metadata) as client:
            owner = await register_owner(client)
            await create_conversation(client, owner, title="t")
            assert await conversation_titles(client, owner) == ["t"]
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"]["status"] == "error"
            assert ready.json()["checks"]["database"]["status"] == "ok"
