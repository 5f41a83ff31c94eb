"""The messages of a conversation: the shared contracts, then where a chat turn's
messages land among them."""

from __future__ import annotations

import httpx

from genai_shared.chat.schemas import MAX_MESSAGE_CHARS
from genai_shared.testing.contracts.messages import MessageInputContract, MessagesContract
from genai_shared.testing.contracts.support import CONVERSATIONS, Owner, new_conversation


class TestMessages(MessagesContract):
    max_message_chars = MAX_MESSAGE_CHARS


class TestInput(MessageInputContract):
    max_message_chars = MAX_MESSAGE_CHARS


async def test_a_chat_turn_adds_its_two_messages_in_order(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Messages posted directly and those of a chat turn share one list, oldest first."""
    path = f"{CONVERSATIONS}/{(await new_conversation(client, owner))['id']}"
    await client.post(f"{path}/messages", json={"role": "system", "content": "Be brief."})
    assert (await client.post(f"{path}/chat", json={"content": "hi"})).status_code == 201
    await client.post(f"{path}/messages", json={"role": "user", "content": "later"})
    items = (await client.get(f"{path}/messages")).json()["items"]
    assert [(m["role"], m["content"]) for m in items] == [
        ("system", "Be brief."),
        ("user", "hi"),
        ("assistant", "Echo: hi"),
        ("user", "later"),
    ]
