"""Object-level authorization: another user's things answer 404 and stay as they were.

Identity comes from the credential only; a user id in a body or a path never chooses
whose data is read or written.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from production_deployment.api_keys.models import ApiKey
from production_deployment.chat.models import Conversation, Message


@pytest.fixture
async def alices(client, make_conversation, make_api_key):
    """User A (the default ``user``): a conversation with a message, and an API key."""
    conversation = await make_conversation(title="A's secrets", metadata={"k": "v"})
    path = f"/api/v1/conversations/{conversation['id']}"
    await client.post(f"{path}/messages", json={"role": "user", "content": "A's message"})
    key = await make_api_key()
    return {"conversation": conversation, "path": path, "key": key}


async def _snapshot(app):
    async with app.state.db.sessionmaker() as session:
        conversations = [
            (c.id, c.user_id, c.title, c.meta, c.updated_at)
            for c in await session.scalars(select(Conversation))
        ]
        messages = [(m.id, m.content) for m in await session.scalars(select(Message))]
        keys = [(k.id, k.user_id, k.revoked_at) for k in await session.scalars(select(ApiKey))]
    return conversations, messages, keys


@pytest.mark.parametrize("credential", ["access_token", "api_key"])
async def test_user_b_cannot_touch_user_as_objects(
    app, anon, alices, make_user, expect_error, credential
):
    bob = await make_user()
    headers = bob.headers
    if credential == "api_key":
        created = await anon.post("/api/v1/api-keys", json={"name": "b"}, headers=bob.headers)
        headers = {"X-API-Key": created.json()["key"]}
    before = await _snapshot(app)
    path, key_id = alices["path"], alices["key"]["id"]

    calls = [
        anon.get(path, headers=headers),
        anon.patch(path, json={"title": "pwned"}, headers=headers),
        anon.delete(path, headers=headers),
        anon.get(f"{path}/messages", headers=headers),
        anon.post(f"{path}/messages", json={"role": "user", "content": "x"}, headers=headers),
        anon.post(f"{path}/chat", json={"content": "x"}, headers=headers),
    ]
    for call in calls:
        expect_error(await call, 404, "ConversationNotFound")
    if credential == "access_token":  # keys are managed with an access token only
        response = await anon.delete(f"/api/v1/api-keys/{key_id}", headers=headers)
        expect_error(response, 404, "ApiKeyNotFound")
        assert (await anon.get("/api/v1/api-keys", headers=headers)).json() == []

    listed = await anon.get("/api/v1/conversations", headers=headers)
    assert listed.json()["items"] == []
    assert await _snapshot(app) == before


async def test_a_user_id_in_the_body_is_refused(app, anon, alices, make_user, expect_error):
    bob = await make_user()
    response = await anon.post(
        "/api/v1/conversations",
        json={"title": "planted", "user_id": alices["conversation"]["user_id"]},
        headers=bob.headers,
    )
    expect_error(response, 422, "ValidationError")
    async with app.state.db.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(Conversation))
    assert count == 1


async def test_the_owner_still_can(client, alices):
    assert (await client.get(alices["path"])).status_code == 200
    messages = (await client.get(f"{alices['path']}/messages")).json()["items"]
    assert [m["content"] for m in messages] == ["A's message"]
