"""Input limits: request body size (413, declared or chunked), max_tokens, history, sizes."""

from __future__ import annotations

import pytest

from genai_shared.chat.schemas import MAX_MESSAGE_CHARS


@pytest.fixture
def backend() -> str:
    """Token and request-size checks happen before the database: SQLite is enough."""
    return "sqlite"


@pytest.fixture
def settings_overrides():
    return {"max_request_body_bytes": 4096, "gateway_max_messages": 3}


async def test_a_declared_large_body_is_413(client, chat_path, expect_error):
    response = await client.post(chat_path, json={"content": "x" * 5000})
    expect_error(response, 413, "ContentTooLarge")


async def test_a_chunked_large_body_is_413(client, chat_path, expect_error):
    async def chunks():
        for _ in range(10):
            yield b"x" * 1000

    response = await client.post(
        chat_path, content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    expect_error(response, 413, "ContentTooLarge")


async def test_a_large_login_form_is_413(anon, expect_error):
    response = await anon.post(
        "/api/v1/auth/login", data={"username": "a@b.co", "password": "p" * 5000}
    )
    expect_error(response, 413, "ContentTooLarge")


async def test_small_bodies_pass(client, chat_path):
    assert (await client.post(chat_path, json={"content": "x" * 1000})).status_code == 201


async def test_max_tokens_cap_and_message_size(client, chat_path, expect_error):
    expect_error(
        await client.post(chat_path, json={"content": "x", "max_tokens": 100_000}),
        422,
        "MaxTokensTooLarge",
    )
    big = {"role": "user", "content": "x" * (MAX_MESSAGE_CHARS + 1)}
    messages_path = chat_path.removesuffix("/chat") + "/messages"
    response = await client.post(messages_path, json=big)
    assert response.status_code in (413, 422)


async def test_gateway_limits(client, expect_error):
    messages = [{"role": "user", "content": "hi"}] * 4
    response = await client.post(
        "/v1/chat/completions", json={"model": "mock/echo-1", "messages": messages}
    )
    expect_error(response, 422, "TooManyMessages")
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "mock/echo-1", "messages": messages[:1], "max_tokens": 100_000},
    )
    # The same check as the chat API's, with the same error.
    expect_error(response, 422, "MaxTokensTooLarge")
