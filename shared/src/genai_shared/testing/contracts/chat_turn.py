"""One chat turn without streaming (``POST /conversations/{id}/chat``): what is stored and sent.

Fixtures a project's conftest provides:

- ``client``: an ``httpx.AsyncClient`` on the app, tables created (03: signed in as ``owner``).
- ``owner``: the ``Owner`` whose conversation each test chats in.
- ``expect_error``: from the genai_shared plugin.

The app must build its providers from the ``llm_registry`` fixture (the projects' ``app``
fixture does): the contracts below override it, so each test talks to a mock it scripts or
watches through ``recorder``.

``ChatInputContract`` holds the bodies refused before the provider is asked, apart, so a
project can mark the whole class (03 runs them on SQLite only).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import ProviderError, ProviderTimeout, ProviderUnavailable, RateLimited
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.types import ChatRequest, ChatResponse, StreamEvent
from genai_shared.testing.contracts.support import (
    CONVERSATIONS,
    ExpectError,
    Owner,
    new_conversation,
)


class RecordingProvider(LLMProvider):
    """The mock provider, keeping every request it is sent: what the app put in the prompt."""

    name = "mock"

    def __init__(self, inner: MockProvider | None = None) -> None:
        self.inner = inner or MockProvider()
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        return await self.inner.complete(request)

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        self.requests.append(request)
        return self.inner.stream(request)


def failing_registry(error: ProviderError) -> ProviderRegistry:
    """Providers whose only model fails every call with ``error``."""
    return ProviderRegistry({"mock": MockProvider(MockScript(error=error))})


async def stored_messages(client: httpx.AsyncClient, chat_path: str) -> list[dict[str, Any]]:
    """The first page of the conversation's messages, oldest first."""
    response = await client.get(f"{chat_path}/messages")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


class _ChatTurnBase:
    """Each test gets a recording mock as its only provider, and a fresh conversation."""

    @pytest.fixture
    def recorder(self) -> RecordingProvider:
        return RecordingProvider()

    @pytest.fixture
    def llm_registry(self, recorder: RecordingProvider) -> ProviderRegistry:
        return ProviderRegistry({"mock": recorder})

    @pytest.fixture
    async def chat_path(self, client: httpx.AsyncClient, owner: Owner) -> str:
        conversation = await new_conversation(client, owner)
        return f"{CONVERSATIONS}/{conversation['id']}"


class ChatReplyContract(_ChatTurnBase):
    """A turn stores the user's message and the reply, and sends the whole history."""

    async def test_stores_both_messages_with_usage(
        self, client: httpx.AsyncClient, chat_path: str
    ) -> None:
        response = await client.post(f"{chat_path}/chat", json={"content": "hello there"})
        assert response.status_code == 201, response.text
        body = response.json()
        user, reply = body["user_message"], body["assistant_message"]
        assert (user["role"], user["content"], user["status"]) == (
            "user",
            "hello there",
            "complete",
        )
        assert user["token_count"] > 0
        assert reply["role"] == "assistant"
        assert reply["content"] == "Echo: hello there"
        assert (reply["provider"], reply["model"]) == ("mock", "echo-1")
        assert reply["input_tokens"] > 0
        assert reply["output_tokens"] > 0
        assert Decimal(reply["cost_usd"]) == 0
        assert reply["latency_ms"] >= 0
        assert reply["finish_reason"] == "stop"
        assert reply["usage_estimated"] is False
        stored = await stored_messages(client, chat_path)
        assert [m["id"] for m in stored] == [user["id"], reply["id"]]

    async def test_sends_the_history_in_order(
        self, client: httpx.AsyncClient, chat_path: str, recorder: RecordingProvider
    ) -> None:
        await client.post(f"{chat_path}/messages", json={"role": "system", "content": "Be brief."})
        await client.post(f"{chat_path}/chat", json={"content": "first"})
        await client.post(f"{chat_path}/chat", json={"content": "second"})
        sent = recorder.requests[-1].messages
        assert [(m.role, m.content) for m in sent] == [
            ("system", "Be brief."),
            ("user", "first"),
            ("assistant", "Echo: first"),
            ("user", "second"),
        ]

    async def test_passes_generation_options(
        self, client: httpx.AsyncClient, chat_path: str, recorder: RecordingProvider
    ) -> None:
        response = await client.post(
            f"{chat_path}/chat",
            json={"content": "one two three four five", "max_tokens": 2, "temperature": 0.3},
        )
        assert response.status_code == 201
        request = recorder.requests[-1]
        assert (request.max_tokens, request.temperature) == (2, 0.3)
        assert response.json()["assistant_message"]["finish_reason"] == "length"

    async def test_model_can_be_named_with_provider(
        self, client: httpx.AsyncClient, chat_path: str, recorder: RecordingProvider
    ) -> None:
        response = await client.post(
            f"{chat_path}/chat", json={"content": "x", "provider": "mock", "model": "echo-1"}
        )
        assert response.status_code == 201
        assert recorder.requests[-1].model == "echo-1"

    async def test_unknown_conversation_is_404(
        self, client: httpx.AsyncClient, expect_error: ExpectError
    ) -> None:
        response = await client.post(f"{CONVERSATIONS}/{uuid.uuid4()}/chat", json={"content": "x"})
        expect_error(response, 404, "ConversationNotFound")


class ChatInputContract(_ChatTurnBase):
    """A body the app refuses stores nothing, not even the user's message."""

    @pytest.mark.parametrize(
        ("body", "error_type"),
        [
            ({"content": "x", "model": "nosuch/model"}, "UnknownModel"),
            ({"content": "x", "model": "openai/gpt-4o"}, "UnknownModel"),  # not configured
            ({"content": "x", "provider": "mock"}, "ValidationError"),
            ({"content": ""}, "ValidationError"),
            ({"content": "  "}, "ValidationError"),
            ({"content": "x", "max_tokens": 0}, "ValidationError"),
            ({"content": "x", "max_tokens": 1_000_000}, "MaxTokensTooLarge"),
            ({"content": "x", "temperature": 3}, "ValidationError"),
            ({"content": "x", "api_base": "http://evil"}, "ValidationError"),
            ({"content": "x", "base_url": "http://evil"}, "ValidationError"),
        ],
    )
    async def test_nothing_is_stored(
        self,
        client: httpx.AsyncClient,
        chat_path: str,
        expect_error: ExpectError,
        body: dict[str, Any],
        error_type: str,
    ) -> None:
        response = await client.post(f"{chat_path}/chat", json=body)
        expect_error(response, 422, error_type)
        assert await stored_messages(client, chat_path) == []


class ProviderFailureContract(_ChatTurnBase):
    """A provider that fails keeps the user's message and records the failed reply."""

    @pytest.mark.parametrize(
        ("llm_registry", "status", "error_type"),
        [
            (
                failing_registry(RateLimited("slow down", provider="mock", retry_after=7)),
                429,
                "ProviderRateLimited",
            ),
            (failing_registry(ProviderUnavailable("down", provider="mock")), 502, "ProviderDown"),
            (failing_registry(ProviderTimeout("slow", provider="mock")), 504, "ProviderTimedOut"),
        ],
        ids=["429", "502", "504"],
    )
    async def test_user_message_is_kept_and_failure_recorded(
        self,
        client: httpx.AsyncClient,
        chat_path: str,
        expect_error: ExpectError,
        status: int,
        error_type: str,
    ) -> None:
        response = await client.post(f"{chat_path}/chat", json={"content": "are you there?"})
        expect_error(response, status, error_type)
        if status == 429:
            assert response.headers["retry-after"] == "7"
        user, reply = await stored_messages(client, chat_path)
        assert (user["role"], user["content"]) == ("user", "are you there?")
        assert (reply["status"], reply["content"]) == ("error", "")
        assert reply["error_type"] in {"RateLimited", "ProviderUnavailable", "ProviderTimeout"}
        assert (reply["input_tokens"], reply["output_tokens"]) == (0, 0)

    async def test_a_failed_reply_is_not_sent_as_history(
        self, client: httpx.AsyncClient, chat_path: str, recorder: RecordingProvider
    ) -> None:
        recorder.inner.script = MockScript(
            error=ProviderUnavailable("x", provider="mock"), fail_times=1
        )
        await client.post(f"{chat_path}/chat", json={"content": "first"})
        await client.post(f"{chat_path}/chat", json={"content": "second"})
        assert [m.content for m in recorder.requests[-1].messages] == ["first", "second"]


class FallbackContract(_ChatTurnBase):
    """A retriable failure of the chosen model is answered by the configured fallback."""

    @pytest.fixture
    def llm_registry(self) -> ProviderRegistry:
        flaky = MockProvider(
            MockScript(error=ProviderUnavailable("x", provider="mock"), fail_times=1)
        )
        return ProviderRegistry({"mock": flaky}, fallbacks=["mock/echo-1"])

    async def test_a_retriable_failure_falls_back(
        self, client: httpx.AsyncClient, chat_path: str
    ) -> None:
        response = await client.post(f"{chat_path}/chat", json={"content": "hi"})
        assert response.status_code == 201
        assert response.json()["assistant_message"]["content"] == "Echo: hi"
