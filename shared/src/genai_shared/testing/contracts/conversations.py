"""The conversations API (``/api/v1/conversations``): create, list, get, patch, delete.

Fixtures a project's conftest provides:

- ``client``: an ``httpx.AsyncClient`` on the app, tables created (03: signed in as ``owner``).
- ``owner``: the ``Owner`` that ``client``'s requests act for when they name nobody.
- ``register_owner``: ``await register_owner(client)`` signs another ``Owner`` up.
- ``app``: the app ``client`` talks to (``app.state.db`` is its database).
- ``expect_error``: from the genai_shared plugin.

Class attribute a subclass of ``ConversationsContract`` sets: ``message_model``, the
project's ``Message`` model, to count what a delete leaves behind.

``ConversationInputContract`` holds the checks made before the database is reached, apart,
so a project can mark the whole class (03 runs them on SQLite only).
``UserIdInRequestContract`` is for the projects that name the owner in the request.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from genai_shared.testing.contracts.support import (
    CONVERSATIONS,
    ExpectError,
    Owner,
    RegisterOwner,
    create_conversation,
    list_conversations,
    new_conversation,
)


class ConversationsContract:
    """What an owner sees of its conversations, through every operation on them."""

    message_model: ClassVar[type[Any]]

    # --- create -------------------------------------------------------------------------------

    async def test_creates_conversation_owned_by_the_owner(
        self, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        response = await create_conversation(
            client, owner, title="Plan", metadata={"model": "mock"}
        )
        assert response.status_code == 201
        body = response.json()
        assert body["user_id"] == owner.id
        assert body["title"] == "Plan"
        assert body["metadata"] == {"model": "mock"}

    async def test_metadata_defaults_to_empty(
        self, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        conversation = await new_conversation(client, owner)
        assert conversation["metadata"] == {}

    async def test_new_conversation_has_equal_timestamps(
        self, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        conversation = await new_conversation(client, owner)
        assert conversation["created_at"] == conversation["updated_at"]

    # --- list ---------------------------------------------------------------------------------

    async def test_newest_first_and_only_the_owners_own(
        self, client: httpx.AsyncClient, owner: Owner, register_owner: RegisterOwner
    ) -> None:
        other = await register_owner(client)
        titles = [f"c{i}" for i in range(3)]
        for title in titles:
            await new_conversation(client, owner, title=title)
        await new_conversation(client, other, title="someone else's")
        response = await list_conversations(client, owner)
        assert response.status_code == 200
        body = response.json()
        assert [c["title"] for c in body["items"]] == list(reversed(titles))
        assert body["next_cursor"] is None

    async def test_cursor_pages_cover_everything_once(
        self, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        created = [(await new_conversation(client, owner, title=f"c{i}"))["id"] for i in range(7)]
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 3}
            if cursor:
                params["cursor"] = cursor
            body = (await list_conversations(client, owner, **params)).json()
            pages += 1
            assert len(body["items"]) <= 3
            seen += [c["id"] for c in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert seen == list(reversed(created))

    async def test_a_row_inserted_between_pages_does_not_shift_them(
        self, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        for i in range(4):
            await new_conversation(client, owner, title=f"old{i}")
        first = (await list_conversations(client, owner, limit=2)).json()
        await new_conversation(client, owner, title="newest")
        second = (
            await list_conversations(client, owner, limit=2, cursor=first["next_cursor"])
        ).json()
        assert [c["title"] for c in first["items"]] == ["old3", "old2"]
        assert [c["title"] for c in second["items"]] == ["old1", "old0"]

    # --- get, patch, delete -------------------------------------------------------------------

    async def test_get(self, client: httpx.AsyncClient, owner: Owner) -> None:
        conversation = await new_conversation(client, owner)
        response = await client.get(f"{CONVERSATIONS}/{conversation['id']}")
        assert response.status_code == 200
        assert response.json() == conversation

    async def test_unknown_is_404_everywhere(
        self, client: httpx.AsyncClient, expect_error: ExpectError
    ) -> None:
        path = f"{CONVERSATIONS}/{uuid.uuid4()}"
        expect_error(await client.get(path), 404, "ConversationNotFound")
        expect_error(await client.patch(path, json={"title": "x"}), 404, "ConversationNotFound")
        expect_error(await client.delete(path), 404, "ConversationNotFound")
        expect_error(await client.get(f"{path}/messages"), 404, "ConversationNotFound")

    async def test_patch_changes_only_what_is_sent(
        self, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        conversation = await new_conversation(client, owner, title="Before", metadata={"a": 1})
        path = f"{CONVERSATIONS}/{conversation['id']}"
        renamed = (await client.patch(path, json={"title": "After"})).json()
        assert renamed["title"] == "After"
        assert renamed["metadata"] == {"a": 1}
        assert renamed["updated_at"] > conversation["updated_at"]
        retagged = (await client.patch(path, json={"metadata": {"b": 2}})).json()
        assert retagged["title"] == "After"
        assert retagged["metadata"] == {"b": 2}
        assert (await client.get(path)).json() == retagged

    async def test_patch_rejects_unknown_fields(
        self, client: httpx.AsyncClient, owner: Owner, expect_error: ExpectError
    ) -> None:
        conversation = await new_conversation(client, owner)
        response = await client.patch(
            f"{CONVERSATIONS}/{conversation['id']}", json={"user_id": str(uuid.uuid4())}
        )
        expect_error(response, 422, "ValidationError")

    async def test_delete_removes_conversation_and_its_messages(
        self, app: FastAPI, client: httpx.AsyncClient, owner: Owner
    ) -> None:
        conversation = await new_conversation(client, owner)
        path = f"{CONVERSATIONS}/{conversation['id']}"
        for text in ("one", "two"):
            await client.post(f"{path}/messages", json={"role": "user", "content": text})
        response = await client.delete(path)
        assert response.status_code == 204
        assert response.content == b""
        assert (await client.get(path)).status_code == 404
        async with app.state.db.sessionmaker() as session:
            remaining = await session.scalar(select(func.count()).select_from(self.message_model))
        assert remaining == 0


class ConversationInputContract:
    """Bad input is refused with the error envelope before the database is asked."""

    @pytest.mark.parametrize(
        "patch",
        [{"title": ""}, {"title": "x" * 201}, {"metadata": "text"}, {"owner": "me"}],
        ids=["empty-title", "long-title", "metadata-not-object", "unknown-field"],
    )
    async def test_invalid_body_is_422(
        self,
        client: httpx.AsyncClient,
        owner: Owner,
        expect_error: ExpectError,
        patch: dict[str, Any],
    ) -> None:
        response = await create_conversation(client, owner, **{"title": "ok", **patch})
        expect_error(response, 422, "ValidationError")

    @pytest.mark.parametrize("limit", [0, 101, -1, "many"])
    async def test_limit_out_of_range_is_422(
        self, client: httpx.AsyncClient, owner: Owner, expect_error: ExpectError, limit: object
    ) -> None:
        response = await list_conversations(client, owner, limit=limit)
        expect_error(response, 422, "ValidationError")

    @pytest.mark.parametrize("cursor", ["garbage", "bm90LWpzb24", "WyJ4IiwgInkiXQ"])
    async def test_bad_cursor_is_422(
        self, client: httpx.AsyncClient, owner: Owner, expect_error: ExpectError, cursor: str
    ) -> None:
        response = await list_conversations(client, owner, cursor=cursor)
        expect_error(response, 422, "InvalidCursor")


class UserIdInRequestContract:
    """Where a request names the owner (``user_id``), it must name one, and one that exists."""

    async def test_unknown_user_is_404(
        self, client: httpx.AsyncClient, expect_error: ExpectError
    ) -> None:
        unknown = Owner.named_in_request(str(uuid.uuid4()))
        response = await create_conversation(client, unknown, title="x")
        expect_error(response, 404, "UserNotFound")

    async def test_user_id_is_required(
        self, client: httpx.AsyncClient, expect_error: ExpectError
    ) -> None:
        expect_error(await client.get(CONVERSATIONS), 422, "ValidationError")
