"""POST /conversations/{id}/chat without streaming: the shared contracts, then project
02's defaults (the offline mock, the server's token cap)."""

from __future__ import annotations

import httpx

from genai_shared.testing.contracts import chat_turn
from genai_shared.testing.contracts.support import (
    CONVERSATIONS,
    ExpectError,
    Owner,
    new_conversation,
)


class TestReply(chat_turn.ChatReplyContract):
    """Storage, history and generation options, on both backends."""


class TestInput(chat_turn.ChatInputContract):
    """The same checks run on both backends here."""


class TestProviderFailure(chat_turn.ProviderFailureContract):
    """A failing provider leaves the user's message and an ``error`` reply."""


class TestFallback(chat_turn.FallbackContract):
    """The configured fallback answers a retriable failure."""


async def test_with_no_provider_key_the_offline_mock_answers(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The providers come from the settings, and the test settings name none."""
    path = f"{CONVERSATIONS}/{(await new_conversation(client, owner))['id']}/chat"
    response = await client.post(path, json={"content": "anyone there?"})
    assert response.status_code == 201, response.text
    reply = response.json()["assistant_message"]
    assert (reply["provider"], reply["model"]) == ("mock", "echo-1")
    assert reply["content"] == "Echo: anyone there?"


async def test_max_tokens_over_the_servers_cap_is_refused(
    client: httpx.AsyncClient, owner: Owner, expect_error: ExpectError
) -> None:
    """``CHAT_MAX_TOKENS_CAP`` (4096 by default) bounds what one caller may spend."""
    path = f"{CONVERSATIONS}/{(await new_conversation(client, owner))['id']}"
    response = await client.post(f"{path}/chat", json={"content": "hi", "max_tokens": 4097})
    expect_error(response, 422, "MaxTokensTooLarge")
    at_the_cap = await client.post(f"{path}/chat", json={"content": "hi", "max_tokens": 4096})
    assert at_the_cap.status_code == 201, at_the_cap.text
