from __future__ import annotations

import uuid

import pytest


class TestCreate:
    async def test_creates_conversation_owned_by_the_caller(self, client, user):
        response = await client.post(
            "/api/v1/conversations", json={"title": "Plan", "metadata": {"model": "mock"}}
        )
        assert response.status_code == 201
        body = response.json()
        assert body["user_id"] == user.id
        assert body["title"] == "Plan"
        assert body["metadata"] == {"model": "mock"}

    async def test_metadata_defaults_to_empty(self, client, make_conversation):
        conversation = await make_conversation()
        assert conversation["metadata"] == {}

    @pytest.mark.parametrize(
        "patch",
        [
            {"title": ""},
            {"title": "x" * 201},
            {"metadata": "text"},
            {"owner": "me"},
            {"user_id": str(uuid.uuid4())},
        ],
        ids=["empty-title", "long-title", "metadata-not-object", "unknown-field", "user-id"],
    )
    @pytest.mark.sqlite_only
    async def test_invalid_body_is_422(self, client, expect_error, patch):
        body = {"title": "ok", **patch}
        expect_error(await client.post("/api/v1/conversations", json=body), 422, "ValidationError")


class TestList:
    async def test_newest_first_and_only_the_callers_own(
        self, client, make_user, make_conversation
    ):
        bob = await make_user()
        titles = [f"c{i}" for i in range(3)]
        for title in titles:
            await make_conversation(title=title)
        await make_conversation(title="bob's", headers=bob.headers)
        response = await client.get("/api/v1/conversations")
        assert response.status_code == 200
        body = response.json()
        assert [c["title"] for c in body["items"]] == list(reversed(titles))
        assert body["next_cursor"] is None

    async def test_cursor_pages_cover_everything_once(self, client, make_conversation):
        created = [(await make_conversation(title=f"c{i}"))["id"] for i in range(7)]
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 3}
            if cursor:
                params["cursor"] = cursor
            body = (await client.get("/api/v1/conversations", params=params)).json()
            pages += 1
            assert len(body["items"]) <= 3
            seen += [c["id"] for c in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert seen == list(reversed(created))

    async def test_a_row_inserted_between_pages_does_not_shift_them(
        self, client, make_conversation
    ):
        for i in range(4):
            await make_conversation(title=f"old{i}")
        first = (await client.get("/api/v1/conversations", params={"limit": 2})).json()
        await make_conversation(title="newest")
        second = (
            await client.get(
                "/api/v1/conversations", params={"limit": 2, "cursor": first["next_cursor"]}
            )
        ).json()
        assert [c["title"] for c in first["items"]] == ["old3", "old2"]
        assert [c["title"] for c in second["items"]] == ["old1", "old0"]

    @pytest.mark.parametrize("limit", [0, 101, -1, "many"])
    @pytest.mark.sqlite_only
    async def test_limit_out_of_range_is_422(self, client, expect_error, limit):
        response = await client.get("/api/v1/conversations", params={"limit": limit})
        expect_error(response, 422, "ValidationError")

    @pytest.mark.parametrize("cursor", ["garbage", "bm90LWpzb24", "WyJ4IiwgInkiXQ"])
    @pytest.mark.sqlite_only
    async def test_bad_cursor_is_422(self, client, expect_error, cursor):
        response = await client.get("/api/v1/conversations", params={"cursor": cursor})
        expect_error(response, 422, "InvalidCursor")


class TestGetUpdateDelete:
    async def test_get(self, client, make_conversation):
        conversation = await make_conversation()
        response = await client.get(f"/api/v1/conversations/{conversation['id']}")
        assert response.status_code == 200
        assert response.json() == conversation

    async def test_unknown_is_404_everywhere(self, client, expect_error):
        path = f"/api/v1/conversations/{uuid.uuid4()}"
        expect_error(await client.get(path), 404, "ConversationNotFound")
        expect_error(await client.patch(path, json={"title": "x"}), 404, "ConversationNotFound")
        expect_error(await client.delete(path), 404, "ConversationNotFound")
        expect_error(await client.get(f"{path}/messages"), 404, "ConversationNotFound")

    async def test_patch_changes_only_what_is_sent(self, client, make_conversation):
        conversation = await make_conversation(title="Before", metadata={"a": 1})
        path = f"/api/v1/conversations/{conversation['id']}"
        renamed = (await client.patch(path, json={"title": "After"})).json()
        assert renamed["title"] == "After"
        assert renamed["metadata"] == {"a": 1}
        assert renamed["updated_at"] > conversation["updated_at"]
        retagged = (await client.patch(path, json={"metadata": {"b": 2}})).json()
        assert retagged["title"] == "After"
        assert retagged["metadata"] == {"b": 2}
        assert (await client.get(path)).json() == retagged

    async def test_patch_rejects_unknown_fields(self, client, make_conversation, expect_error):
        conversation = await make_conversation()
        response = await client.patch(
            f"/api/v1/conversations/{conversation['id']}", json={"user_id": str(uuid.uuid4())}
        )
        expect_error(response, 422, "ValidationError")

    async def test_delete_removes_conversation_and_its_messages(
        self, app, client, make_conversation
    ):
        from sqlalchemy import func, select

        from secure_chat_api.chat.models import Message

        conversation = await make_conversation()
        path = f"/api/v1/conversations/{conversation['id']}"
        for text in ("one", "two"):
            await client.post(f"{path}/messages", json={"role": "user", "content": text})
        response = await client.delete(path)
        assert response.status_code == 204
        assert response.content == b""
        assert (await client.get(path)).status_code == 404
        async with app.state.db.sessionmaker() as session:
            remaining = await session.scalar(select(func.count()).select_from(Message))
        assert remaining == 0


async def test_new_conversation_has_equal_timestamps(client, make_conversation):
    conversation = await make_conversation()
    assert conversation["created_at"] == conversation["updated_at"]
