"""The recent-conversations cache: the shared contract, then how project 01's service uses
it (which page is cached, when it is dropped, under whose name)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from chat_api_with_db.chat import service
from chat_api_with_db.chat.models import Conversation
from chat_api_with_db.chat.schemas import ConversationCreate
from genai_shared.chat.cache import recent_conversations_cache
from genai_shared.chat.dependencies import recent_conversations_for
from genai_shared.testing.contracts.cache import RecentConversationsCacheContract
from genai_shared.testing.contracts.support import (
    Owner,
    conversation_titles,
    list_conversations,
    new_conversation,
)


class TestRecentConversationsCache(RecentConversationsCacheContract):
    conversation_model = Conversation


class TestHowTheServiceCaches:
    async def test_pages_after_the_first_come_from_the_database(
        self, app: FastAPI, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        for i in range(3):
            await new_conversation(client, owner, title=f"c{i}")
        first = (await list_conversations(client, owner, limit=2)).json()
        after_first = {"limit": 2, "cursor": first["next_cursor"]}
        assert (await list_conversations(client, owner, **after_first)).status_code == 200
        # An older row the API never saw: a cached second page could not show it.
        async with app.state.db.transaction() as session:
            session.add(
                Conversation(
                    user_id=uuid.UUID(owner.id),
                    title="older",
                    meta={},
                    created_at=datetime(2000, 1, 1, tzinfo=UTC),
                )
            )
        second = (await list_conversations(client, owner, **after_first)).json()
        assert [c["title"] for c in second["items"]] == ["c0", "older"]

    async def test_a_write_that_rolls_back_leaves_the_cached_page(
        self, app: FastAPI, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        """The page is dropped after the commit, so a failed request costs no cache miss."""
        user_id = uuid.UUID(owner.id)
        cache = recent_conversations_for(app.state.cache, app.state.settings)
        await new_conversation(client, owner, title="kept")
        assert await conversation_titles(client, owner) == ["kept"]
        generation = await cache.generation(user_id)

        async def create_then_fail() -> None:
            async with app.state.db.transaction() as session:
                data = ConversationCreate(user_id=user_id, title="lost")
                await service.create_conversation(session=session, cache=cache, data=data)
                raise RuntimeError("the request fails after the write")

        with pytest.raises(RuntimeError):
            await create_then_fail()
        assert await cache.generation(user_id) == generation
        assert await cache.get(user_id, generation or "", variant="limit20") is not None

        async with app.state.db.transaction() as session:
            data = ConversationCreate(user_id=user_id, title="saved")
            await service.create_conversation(session=session, cache=cache, data=data)
        assert await cache.generation(user_id) != generation
        assert await conversation_titles(client, owner) == ["saved", "kept"]

    async def test_pages_are_kept_under_this_apps_name(
        self, app: FastAPI, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        """Two apps may share one Redis: another app's cache never answers with 01's page."""
        user_id = uuid.UUID(owner.id)
        await new_conversation(client, owner)
        listed = (await list_conversations(client, owner)).json()

        ours = recent_conversations_for(app.state.cache, app.state.settings)
        assert ours.namespace == "chat-api-with-db:conversations"
        cached = await ours.get(user_id, await ours.generation(user_id) or "", variant="limit20")
        assert cached is not None
        assert cached.model_dump(mode="json") == listed

        theirs = recent_conversations_cache(
            app.state.cache, namespace="another-app:conversations", ttl_seconds=60
        )
        generation = await theirs.generation(user_id) or ""
        assert await theirs.get(user_id, generation, variant="limit20") is None
