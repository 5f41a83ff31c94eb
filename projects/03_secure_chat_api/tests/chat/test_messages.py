from __future__ import annotations

import pytest

from secure_chat_api.chat.schemas import MAX_MESSAGE_CHARS


@pytest.fixture
async def conversation_path(make_conversation):
    conversation = await make_conversation()
    return f"/api/v1/conversations/{conversation['id']}/messages"


class TestCreate:
    async def test_creates_message(self, client, conversation_path):
        response = await client.post(
            conversation_path, json={"role": "assistant", "content": "Hi!", "token_count": 3}
        )
        assert response.status_code == 201
        body = response.json()
        assert (body["role"], body["content"], body["token_count"]) == ("assistant", "Hi!", 3)

    async def test_max_length_content_is_accepted(self, client, conversation_path):
        content = "x" * MAX_MESSAGE_CHARS
        response = await client.post(conversation_path, json={"role": "user", "content": content})
        assert response.status_code == 201
        assert len(response.json()["content"]) == MAX_MESSAGE_CHARS

    @pytest.mark.parametrize(
        "body",
        [
            {"role": "user", "content": ""},
            {"role": "user", "content": "   \n\t"},
            {"role": "user", "content": "x" * (MAX_MESSAGE_CHARS + 1)},
            {"role": "robot", "content": "hi"},
            {"role": "user", "content": "hi", "token_count": -1},
            {"role": "user", "content": "hi", "conversation_id": "x"},
            {"content": "hi"},
        ],
        ids=[
            "empty",
            "blank",
            "oversized",
            "bad-role",
            "negative-tokens",
            "unknown-field",
            "no-role",
        ],
    )
    @pytest.mark.sqlite_only
    async def test_invalid_message_is_422(self, client, conversation_path, expect_error, body):
        expect_error(await client.post(conversation_path, json=body), 422, "ValidationError")

    async def test_a_message_touches_the_conversation(self, client, conversation_path):
        before = (await client.get(conversation_path.removesuffix("/messages"))).json()
        await client.post(conversation_path, json={"role": "user", "content": "hello"})
        after = (await client.get(conversation_path.removesuffix("/messages"))).json()
        assert after["updated_at"] > before["updated_at"]


class TestList:
    async def test_oldest_first_in_pages(self, client, conversation_path):
        contents = [f"m{i}" for i in range(5)]
        for content in contents:
            await client.post(conversation_path, json={"role": "user", "content": content})
        first = (await client.get(conversation_path, params={"limit": 2})).json()
        assert [m["content"] for m in first["items"]] == ["m0", "m1"]
        seen = [m["content"] for m in first["items"]]
        cursor = first["next_cursor"]
        while cursor:
            page = (
                await client.get(conversation_path, params={"limit": 2, "cursor": cursor})
            ).json()
            seen += [m["content"] for m in page["items"]]
            cursor = page["next_cursor"]
        assert seen == contents

    async def test_empty_conversation(self, client, conversation_path):
        assert (await client.get(conversation_path)).json() == {"items": [], "next_cursor": None}
