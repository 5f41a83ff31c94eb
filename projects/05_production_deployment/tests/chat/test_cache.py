"""The recent-conversations cache, from the shared contract, and per user in project 05.

With Redis down, non-chat routes fail open when the rate limiter cannot be reached either
(see ratelimit/): the contract's Redis-down test lists conversations through it.

Project 05's own lesson here: the cached list belongs to the user the credential names,
not to the credential: one user's cache entry is never served to another, one user's
writes never touch another's entry, and a user's writes through an API key invalidate what
their access token reads.
"""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from genai_shared.testing.contracts.cache import RecentConversationsCacheContract
from production_deployment.chat.models import Conversation

CONVERSATIONS = "/api/v1/conversations"


class TestRecentConversationsCache(RecentConversationsCacheContract):
    conversation_model = Conversation


async def _titles(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> list[str]:
    response = await client.get(CONVERSATIONS, headers=headers)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def _create(client: httpx.AsyncClient, title: str, headers: dict[str, str] | None = None):
    response = await client.post(CONVERSATIONS, json={"title": title}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _insert_behind_the_apis_back(app: FastAPI, user_id: str, title: str) -> None:
    async with app.state.db.sessionmaker() as session:
        session.add(Conversation(user_id=uuid.UUID(user_id), title=title, meta={}))
        await session.commit()


class TestCounted:
    async def test_a_miss_then_a_hit_feed_cache_requests_total(self, app, client) -> None:
        """The counter the hit-ratio recording rule and the dashboard read."""

        def lookups() -> dict[str, float]:
            return {
                result: app.state.metrics.registry.get_sample_value(
                    "cache_requests_total", {"cache": "recent_conversations", "result": result}
                )
                or 0.0
                for result in ("hit", "miss")
            }

        await _create(client, "counted")
        assert lookups() == {"hit": 0.0, "miss": 0.0}
        assert await _titles(client) == ["counted"]
        assert lookups() == {"hit": 0.0, "miss": 1.0}
        assert await _titles(client) == ["counted"]
        assert lookups() == {"hit": 1.0, "miss": 1.0}
        await _create(client, "invalidates")
        assert len(await _titles(client)) == 2
        assert lookups() == {"hit": 1.0, "miss": 2.0}


class TestPerUser:
    async def test_one_users_cached_list_is_never_served_to_another(
        self, client, make_user
    ) -> None:
        """A cache keyed by the page alone (not the user) would hand B A's list."""
        await _create(client, "alice's secret plan")
        assert await _titles(client) == ["alice's secret plan"]  # now cached for A

        bob = await make_user()
        assert await _titles(client, bob.headers) == []
        await _create(client, "bob's", bob.headers)
        assert await _titles(client, bob.headers) == ["bob's"]
        assert await _titles(client) == ["alice's secret plan"]

    async def test_another_users_writes_leave_my_cache_entry_alone(
        self, app, client, user, make_user
    ) -> None:
        """B's writes neither leak into A's list nor invalidate it (a global generation would)."""
        bob = await make_user()
        await _create(client, "mine")
        assert await _titles(client) == ["mine"]
        # Invisible while A's entry stands: the proof that A's next reads are cache hits.
        await _insert_behind_the_apis_back(app, user.id, "behind the back")

        made = await _create(client, "bob's", bob.headers)
        await client.patch(
            f"{CONVERSATIONS}/{made['id']}", json={"title": "bob renamed"}, headers=bob.headers
        )
        assert await _titles(client) == ["mine"]
        response = await client.delete(f"{CONVERSATIONS}/{made['id']}", headers=bob.headers)
        assert response.status_code == 204
        assert await _titles(client) == ["mine"]

        # A's own write still invalidates A's entry.
        await _create(client, "mine too")
        assert sorted(await _titles(client)) == ["behind the back", "mine", "mine too"]

    async def test_a_write_through_an_api_key_invalidates_the_tokens_view(
        self, client, make_api_key
    ) -> None:
        """The cache is the user's, not the credential's: a per-credential key would go stale."""
        key = {"Authorization": f"Bearer {(await make_api_key())['key']}"}
        await _create(client, "first")
        assert await _titles(client) == ["first"]  # cached, read with the access token
        assert await _titles(client, key) == ["first"]

        await _create(client, "via key", key)
        assert await _titles(client) == ["via key", "first"]
