"""The conversations API: the shared contracts (a request names its owner's ``user_id``),
then how project 02's chat turns touch a conversation."""

from __future__ import annotations

import httpx

from genai_shared.testing.contracts import conversations
from genai_shared.testing.contracts.support import (
    CONVERSATIONS,
    Owner,
    list_conversations,
    new_conversation,
)
from multi_provider_chat.chat.models import Message


class TestConversations(conversations.ConversationsContract, conversations.UserIdInRequestContract):
    message_model = Message


class TestInput(conversations.ConversationInputContract):
    """The same checks run on both backends here."""


async def test_a_chat_turn_touches_its_conversation_but_keeps_the_list_order(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The list is ordered by creation: talking in an old conversation does not move it."""
    older = await new_conversation(client, owner, title="older")
    await new_conversation(client, owner, title="newer")
    turn = await client.post(f"{CONVERSATIONS}/{older['id']}/chat", json={"content": "hi"})
    assert turn.status_code == 201, turn.text
    items = (await list_conversations(client, owner)).json()["items"]
    assert [c["title"] for c in items] == ["newer", "older"]
    assert items[1]["updated_at"] > items[0]["updated_at"]
