"""Idempotency-Key on chat POSTs: a retry returns the first result and runs nothing again."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from secure_chat_api.chat.models import Message
from secure_chat_api.usage.models import UsageRecord


@pytest.fixture
async def chat_path(make_conversation):
    return f"/api/v1/conversations/{(await make_conversation())['id']}/chat"


async def _counts(app) -> tuple[int, int]:
    async with app.state.db.sessionmaker() as session:
        messages = await session.scalar(select(func.count()).select_from(Message))
        ledger = await session.scalar(select(func.count()).select_from(UsageRecord))
    return messages, ledger


async def test_a_retry_returns_the_first_result(app, client, chat_path):
    headers = {"Idempotency-Key": "turn-1"}
    first = await client.post(chat_path, json={"content": "hello"}, headers=headers)
    again = await client.post(chat_path, json={"content": "hello"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _counts(app) == (2, 1)


async def test_same_key_different_body_is_422(app, client, chat_path, expect_error):
    headers = {"Idempotency-Key": "turn-1"}
    await client.post(chat_path, json={"content": "hello"}, headers=headers)
    response = await client.post(chat_path, json={"content": "other"}, headers=headers)
    expect_error(response, 422, "IdempotencyKeyReused")
    assert await _counts(app) == (2, 1)


async def test_keys_are_per_user(anon, client, chat_path, make_user):
    bob = await make_user()
    theirs = await anon.post("/api/v1/conversations", json={"title": "b"}, headers=bob.headers)
    path = f"/api/v1/conversations/{theirs.json()['id']}/chat"
    headers = {"Idempotency-Key": "shared"}
    mine = await client.post(chat_path, json={"content": "x"}, headers=headers)
    bobs = await anon.post(path, json={"content": "x"}, headers={**bob.headers, **headers})
    assert mine.status_code == bobs.status_code == 201
    assert "idempotent-replayed" not in bobs.headers
    assert bobs.json()["user_message"]["id"] != mine.json()["user_message"]["id"]


@pytest.mark.parametrize("key", ["", "a" * 256, "with space", "tab\there"])
@pytest.mark.sqlite_only
async def test_invalid_keys_are_422(client, chat_path, expect_error, key):
    response = await client.post(chat_path, json={"content": "x"}, headers={"Idempotency-Key": key})
    assert response.status_code == 422


async def test_streams_do_not_take_keys(client, chat_path, expect_error):
    response = await client.post(
        chat_path, json={"content": "x", "stream": True}, headers={"Idempotency-Key": "k"}
    )
    expect_error(response, 422, "IdempotencyNotForStreams")


class TestAfterAFailure:
    @pytest.fixture
    def llm_registry(self) -> ProviderRegistry:
        flaky = MockProvider(
            MockScript(error=ProviderUnavailable("x", provider="mock"), fail_times=1)
        )
        return ProviderRegistry({"mock": flaky})

    async def test_the_key_is_released_so_a_retry_runs(self, client, chat_path):
        headers = {"Idempotency-Key": "retry-me"}
        failed = await client.post(chat_path, json={"content": "x"}, headers=headers)
        assert failed.status_code == 502
        retried = await client.post(chat_path, json={"content": "x"}, headers=headers)
        assert retried.status_code == 201
        assert "idempotent-replayed" not in retried.headers


async def test_the_gateway_takes_keys_too(app, client):
    body = {"model": "mock/echo-1", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Idempotency-Key": "gw-1"}
    first = await client.post("/v1/chat/completions", json=body, headers=headers)
    again = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert await _counts(app) == (0, 1)
