"""The messages of a conversation, from the shared contracts, and who may touch them.

Project 05's own lesson here: a conversation's messages are its owner's alone (another
user gets the very 404 a missing conversation gets, and adds nothing), and a message too
large is refused without being stored or echoed back.
"""

from __future__ import annotations

import uuid

import pytest

from genai_shared.chat.schemas import MAX_MESSAGE_CHARS
from genai_shared.testing.contracts.messages import MessageInputContract, MessagesContract


class TestMessages(MessagesContract):
    max_message_chars = MAX_MESSAGE_CHARS


@pytest.mark.sqlite_only
class TestInput(MessageInputContract):
    max_message_chars = MAX_MESSAGE_CHARS


def _messages_path(conversation_id: object) -> str:
    return f"/api/v1/conversations/{conversation_id}/messages"


async def _contents(client, path: str) -> list[str]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return [m["content"] for m in response.json()["items"]]


class TestOwnership:
    async def test_another_user_can_neither_list_nor_add(
        self, client, make_conversation, make_user, make_api_key, expect_error
    ) -> None:
        """B, by token or by key, gets the 404 of a missing conversation: no existence oracle."""
        path = _messages_path((await make_conversation())["id"])
        assert (await client.post(path, json={"role": "user", "content": "A's"})).status_code == 201
        bob = await make_user()
        bobs_key = await make_api_key(headers=bob.headers)
        missing = _messages_path(uuid.uuid4())

        for headers in (bob.headers, {"Authorization": f"Bearer {bobs_key['key']}"}):
            listed = await client.get(path, headers=headers)
            added = await client.post(
                path, json={"role": "user", "content": "B's"}, headers=headers
            )
            nothing = await client.get(missing, headers=headers)
            for response in (listed, added, nothing):
                error = expect_error(response, 404, "ConversationNotFound")
                assert error["message"] == nothing.json()["error"]["message"]
            assert "A's" not in listed.text

        assert await _contents(client, path) == ["A's"]

    async def test_a_message_over_the_cap_is_refused_stored_nowhere_and_not_echoed(
        self, client, make_conversation, expect_error
    ) -> None:
        """A cap checked after the insert, or an error that quotes the input, would fail."""
        path = _messages_path((await make_conversation())["id"])
        canary = "canary-7f3a "
        content = (canary * (MAX_MESSAGE_CHARS // len(canary) + 1))[: MAX_MESSAGE_CHARS + 1]
        assert len(content) == MAX_MESSAGE_CHARS + 1

        response = await client.post(path, json={"role": "user", "content": content})
        expect_error(response, 422, "ValidationError")
        assert canary not in response.text

        # Over MAX_REQUEST_BODY_BYTES (256 KiB): refused by size alone, before it is parsed.
        huge = await client.post(path, json={"role": "user", "content": "y" * 300_000})
        expect_error(huge, 413, "ContentTooLarge")

        assert await _contents(client, path) == []
