"""The messages of a conversation: the shared contracts, then what project 01's own
``add_message`` and ``list_messages`` promise beyond them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from chat_api_with_db.chat.models import Message
from genai_shared.chat.schemas import MAX_MESSAGE_CHARS
from genai_shared.testing.contracts.messages import MessageInputContract, MessagesContract
from genai_shared.testing.contracts.support import CONVERSATIONS, Owner, new_conversation


class TestMessages(MessagesContract):
    max_message_chars = MAX_MESSAGE_CHARS


class TestInput(MessageInputContract):
    max_message_chars = MAX_MESSAGE_CHARS


async def all_pages(client: httpx.AsyncClient, path: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a paginated list, following ``next_cursor`` to the end."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        body = (await client.get(path, params=params)).json()
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        params["cursor"] = body["next_cursor"]


class TestOwnQueries:
    async def test_a_message_moves_its_conversation_to_the_same_instant(
        self, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        """One timestamp for both writes: the conversation's ``updated_at`` is the message's."""
        conversation = await new_conversation(client, owner)
        path = f"{CONVERSATIONS}/{conversation['id']}"
        message = await client.post(f"{path}/messages", json={"role": "user", "content": "hi"})
        assert message.status_code == 201
        assert (await client.get(path)).json()["updated_at"] == message.json()["created_at"]

    async def test_messages_of_the_same_instant_keep_one_order_across_pages(
        self, app: FastAPI, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        conversation = await new_conversation(client, owner)
        conversation_id = uuid.UUID(conversation["id"])
        instant = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [
            Message(conversation_id=conversation_id, role="user", content=c, created_at=instant)
            for c in ("m0", "m1", "m2", "m3", "m4")
        ]
        async with app.state.db.transaction() as session:
            session.add_all(rows)

        listed = await all_pages(client, f"{CONVERSATIONS}/{conversation_id}/messages", limit=2)
        assert [item["id"] for item in listed] == sorted(str(row.id) for row in rows)
