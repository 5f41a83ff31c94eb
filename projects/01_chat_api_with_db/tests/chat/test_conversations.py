"""The conversations API: the shared contracts (a request names its owner's ``user_id``),
then what project 01's own queries in ``chat/service.py`` promise beyond them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from chat_api_with_db.chat import service
from chat_api_with_db.chat.models import Conversation, Message
from genai_shared.chat.dependencies import recent_conversations_for
from genai_shared.testing.contracts import conversations
from genai_shared.testing.contracts.support import (
    CONVERSATIONS,
    ExpectError,
    Owner,
    new_conversation,
)


class TestConversations(conversations.ConversationsContract, conversations.UserIdInRequestContract):
    message_model = Message


class TestInput(conversations.ConversationInputContract):
    """The same checks run on both backends here."""


async def count(app: FastAPI, model: type[Conversation] | type[Message]) -> int:
    async with app.state.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestOwnQueries:
    """Project 01's service: the owner check, the keyset order, the cascade."""

    async def test_an_owner_who_does_not_exist_is_a_404_on_the_field_and_stores_nothing(
        self, app: FastAPI, client: httpx.AsyncClient, expect_error: ExpectError
    ) -> None:
        body = {"user_id": str(uuid.uuid4()), "title": "Nobody's"}
        error = expect_error(await client.post(CONVERSATIONS, json=body), 404, "UserNotFound")
        assert error["details"] == [{"loc": ["body", "user_id"]}]
        assert await count(app, Conversation) == 0

    async def test_pages_split_cleanly_between_rows_of_the_same_instant(
        self, app: FastAPI, owner: Owner
    ) -> None:
        """Equal ``created_at`` is ordered by id: no page repeats or skips a row."""
        user_id = uuid.UUID(owner.id)
        instant = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [
            Conversation(user_id=user_id, title=f"t{i}", meta={}, created_at=instant)
            for i in range(5)
        ]
        async with app.state.db.transaction() as session:
            session.add_all(rows)

        cache = recent_conversations_for(app.state.cache, app.state.settings)
        seen: list[uuid.UUID] = []
        cursor: str | None = None
        for _ in range(len(rows)):
            async with app.state.db.transaction() as session:
                page = await service.list_conversations(
                    session=session, cache=cache, user_id=user_id, limit=2, cursor=cursor
                )
            seen += [conversation.id for conversation in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == sorted((row.id for row in rows), reverse=True)

    async def test_the_database_itself_deletes_a_conversations_messages(
        self, app: FastAPI, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        """ON DELETE CASCADE is in the schema: a delete that bypasses the ORM takes them too."""
        conversation = await new_conversation(client, owner)
        path = f"{CONVERSATIONS}/{conversation['id']}/messages"
        for text in ("one", "two"):
            await client.post(path, json={"role": "user", "content": text})
        assert await count(app, Message) == 2

        table = Conversation.__table__
        async with app.state.db.engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.id == uuid.UUID(conversation["id"])))
        assert await count(app, Message) == 0

    async def test_an_empty_patch_changes_nothing(
        self, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        """No field sent (or only a null title): ``updated_at`` stays where it was."""
        conversation = await new_conversation(client, owner, title="Same")
        path = f"{CONVERSATIONS}/{conversation['id']}"
        for body in ({}, {"title": None}):
            response = await client.patch(path, json=body)
            assert response.status_code == 200
            assert response.json() == conversation
