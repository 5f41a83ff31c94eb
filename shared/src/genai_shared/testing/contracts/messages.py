"""The messages of a conversation (``/api/v1/conversations/{id}/messages``): add and list.

Fixtures a project's conftest provides:

- ``client``: an ``httpx.AsyncClient`` on the app, tables created (03: signed in as ``owner``).
- ``owner``: the ``Owner`` whose conversation the messages go to.
- ``expect_error``: from the genai_shared plugin.

Class attribute a subclass of either contract sets: ``max_message_chars``, the project's
longest accepted message (``chat.schemas.MAX_MESSAGE_CHARS``).

``MessageInputContract`` holds the checks made before the database is reached, apart, so a
project can mark the whole class (03 runs them on SQLite only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import httpx
import pytest

from genai_shared.testing.contracts.support import ExpectError, Owner, new_conversation


class _MessagesBase:
    """Gives each test a fresh conversation of the owner's, as its messages path."""

    max_message_chars: ClassVar[int]

    @pytest.fixture
    async def conversation_path(self, client: httpx.AsyncClient, owner: Owner) -> str:
        conversation = await new_conversation(client, owner)
        return f"/api/v1/conversations/{conversation['id']}/messages"


class MessagesContract(_MessagesBase):
    """Messages are stored as sent, touch their conversation and list oldest first."""

    # --- create -------------------------------------------------------------------------------

    async def test_creates_message(self, client: httpx.AsyncClient, conversation_path: str) -> None:
        response = await client.post(
            conversation_path, json={"role": "assistant", "content": "Hi!", "token_count": 3}
        )
        assert response.status_code == 201
        body = response.json()
        assert (body["role"], body["content"], body["token_count"]) == ("assistant", "Hi!", 3)

    async def test_max_length_content_is_accepted(
        self, client: httpx.AsyncClient, conversation_path: str
    ) -> None:
        content = "x" * self.max_message_chars
        response = await client.post(conversation_path, json={"role": "user", "content": content})
        assert response.status_code == 201
        assert len(response.json()["content"]) == self.max_message_chars

    async def test_a_message_touches_the_conversation(
        self, client: httpx.AsyncClient, conversation_path: str
    ) -> None:
        conversation = conversation_path.removesuffix("/messages")
        before = (await client.get(conversation)).json()
        await client.post(conversation_path, json={"role": "user", "content": "hello"})
        after = (await client.get(conversation)).json()
        assert after["updated_at"] > before["updated_at"]

    # --- list ---------------------------------------------------------------------------------

    async def test_oldest_first_in_pages(
        self, client: httpx.AsyncClient, conversation_path: str
    ) -> None:
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

    async def test_empty_conversation(
        self, client: httpx.AsyncClient, conversation_path: str
    ) -> None:
        assert (await client.get(conversation_path)).json() == {"items": [], "next_cursor": None}


# Built from the subclass's limit at run time: the oversized case depends on the project.
INVALID_MESSAGES: dict[str, Callable[[int], dict[str, Any]]] = {
    "empty": lambda _: {"role": "user", "content": ""},
    "blank": lambda _: {"role": "user", "content": "   \n\t"},
    "oversized": lambda limit: {"role": "user", "content": "x" * (limit + 1)},
    "bad-role": lambda _: {"role": "robot", "content": "hi"},
    "negative-tokens": lambda _: {"role": "user", "content": "hi", "token_count": -1},
    "unknown-field": lambda _: {"role": "user", "content": "hi", "conversation_id": "x"},
    "no-role": lambda _: {"content": "hi"},
}


class MessageInputContract(_MessagesBase):
    """Bad messages are refused with the error envelope before the database is asked."""

    @pytest.mark.parametrize("case", list(INVALID_MESSAGES))
    async def test_invalid_message_is_422(
        self,
        client: httpx.AsyncClient,
        conversation_path: str,
        expect_error: ExpectError,
        case: str,
    ) -> None:
        body = INVALID_MESSAGES[case](self.max_message_chars)
        expect_error(await client.post(conversation_path, json=body), 422, "ValidationError")
