"""The recent-conversations cache: the shared contract, then what project 02 adds to it
(a chat turn is a write too)."""

from __future__ import annotations

import httpx

from genai_shared.testing.contracts.cache import RecentConversationsCacheContract
from genai_shared.testing.contracts.support import (
    CONVERSATIONS,
    Owner,
    list_conversations,
    new_conversation,
)
from multi_provider_chat.chat.models import Conversation


class TestRecentConversationsCache(RecentConversationsCacheContract):
    conversation_model = Conversation


async def test_a_chat_turn_refreshes_the_cached_list(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A reply touches its conversation: the cached first page must not keep the old time."""
    conversation = await new_conversation(client, owner, title="talk")
    (before,) = (await list_conversations(client, owner)).json()["items"]
    turn = await client.post(f"{CONVERSATIONS}/{conversation['id']}/chat", json={"content": "hi"})
    assert turn.status_code == 201, turn.text
    (after,) = (await list_conversations(client, owner)).json()["items"]
    assert after["updated_at"] > before["updated_at"]
