"""The users API: the shared contract (project 01's API, unchanged), then what a user is
for in project 02: owning conversations a model answers in."""

from __future__ import annotations

import httpx

from genai_shared.testing.contracts.support import CONVERSATIONS
from genai_shared.testing.contracts.users import USERS, MakeUser, UsersContract


class TestUsers(UsersContract):
    pass


async def test_a_new_user_can_chat_in_a_conversation_of_theirs(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(email="Grace@Example.com", display_name="Grace")
    assert (await client.get(f"{USERS}/{user['id']}")).json()["email"] == "grace@example.com"
    created = await client.post(CONVERSATIONS, json={"user_id": user["id"], "title": "Ask"})
    assert created.status_code == 201, created.text
    turn = await client.post(f"{CONVERSATIONS}/{created.json()['id']}/chat", json={"content": "hi"})
    assert turn.status_code == 201, turn.text
    assert turn.json()["user_message"]["conversation_id"] == created.json()["id"]
    listed = await client.get(CONVERSATIONS, params={"user_id": user["id"]})
    assert [c["title"] for c in listed.json()["items"]] == ["Ask"]
