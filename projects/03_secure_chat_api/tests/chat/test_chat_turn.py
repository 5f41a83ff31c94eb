"""POST /conversations/{id}/chat without streaming: storage, history, errors, fallback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import ProviderTimeout, ProviderUnavailable, RateLimited
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.types import ChatRequest, ChatResponse, StreamEvent


class RecordingProvider(LLMProvider):
    """Wraps the mock and keeps every request it was sent."""

    name = "mock"

    def __init__(self, inner: MockProvider | None = None) -> None:
        self.inner = inner or MockProvider()
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        return await self.inner.complete(request)

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        return self.inner.stream(request)


@pytest.fixture
def recorder() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def llm_registry(recorder: RecordingProvider) -> ProviderRegistry:
    return ProviderRegistry({"mock": recorder})


@pytest.fixture
async def chat_path(make_conversation) -> str:
    conversation = await make_conversation()
    return f"/api/v1/conversations/{conversation['id']}"


async def _messages(client, chat_path: str) -> list[dict]:
    return (await client.get(f"{chat_path}/messages")).json()["items"]


class TestReply:
    async def test_stores_both_messages_with_usage(self, client, chat_path):
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
        assert [m["id"] for m in await _messages(client, chat_path)] == [user["id"], reply["id"]]

    async def test_sends_the_history_in_order(self, client, chat_path, recorder):
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

    async def test_passes_generation_options(self, client, chat_path, recorder):
        response = await client.post(
            f"{chat_path}/chat",
            json={"content": "one two three four five", "max_tokens": 2, "temperature": 0.3},
        )
        assert response.status_code == 201
        request = recorder.requests[-1]
        assert (request.max_tokens, request.temperature) == (2, 0.3)
        assert response.json()["assistant_message"]["finish_reason"] == "length"

    async def test_model_can_be_named_with_provider(self, client, chat_path, recorder):
        response = await client.post(
            f"{chat_path}/chat", json={"content": "x", "provider": "mock", "model": "echo-1"}
        )
        assert response.status_code == 201
        assert recorder.requests[-1].model == "echo-1"


class TestRejected:
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
    @pytest.mark.sqlite_only
    async def test_nothing_is_stored(self, client, chat_path, expect_error, body, error_type):
        response = await client.post(f"{chat_path}/chat", json=body)
        expect_error(response, 422, error_type)
        assert await _messages(client, chat_path) == []

    async def test_unknown_conversation_is_404(self, client, expect_error):
        response = await client.post(
            f"/api/v1/conversations/{uuid.uuid4()}/chat", json={"content": "x"}
        )
        expect_error(response, 404, "ConversationNotFound")


def _failing(error, **script) -> ProviderRegistry:
    return ProviderRegistry({"mock": MockProvider(MockScript(error=error, **script))})


class TestProviderFailure:
    @pytest.mark.parametrize(
        ("llm_registry", "status", "error_type"),
        [
            (
                _failing(RateLimited("slow down", provider="mock", retry_after=7)),
                429,
                "ProviderRateLimited",
            ),
            (_failing(ProviderUnavailable("down", provider="mock")), 502, "ProviderDown"),
            (_failing(ProviderTimeout("slow", provider="mock")), 504, "ProviderTimedOut"),
        ],
        ids=["429", "502", "504"],
    )
    async def test_user_message_is_kept_and_failure_recorded(
        self, client, chat_path, expect_error, status, error_type
    ):
        response = await client.post(f"{chat_path}/chat", json={"content": "are you there?"})
        expect_error(response, status, error_type)
        if status == 429:
            assert response.headers["retry-after"] == "7"
        user, reply = await _messages(client, chat_path)
        assert (user["role"], user["content"]) == ("user", "are you there?")
        assert (reply["status"], reply["content"]) == ("error", "")
        assert reply["error_type"] in {"RateLimited", "ProviderUnavailable", "ProviderTimeout"}
        assert (reply["input_tokens"], reply["output_tokens"]) == (0, 0)

    async def test_a_failed_reply_is_not_sent_as_history(self, client, chat_path, recorder):
        recorder.inner.script = MockScript(
            error=ProviderUnavailable("x", provider="mock"), fail_times=1
        )
        await client.post(f"{chat_path}/chat", json={"content": "first"})
        await client.post(f"{chat_path}/chat", json={"content": "second"})
        assert [m.content for m in recorder.requests[-1].messages] == ["first", "second"]


class TestFallback:
    @pytest.fixture
    def llm_registry(self) -> ProviderRegistry:
        flaky = MockProvider(
            MockScript(error=ProviderUnavailable("x", provider="mock"), fail_times=1)
        )
        return ProviderRegistry({"mock": flaky}, fallbacks=["mock/echo-1"])

    async def test_a_retriable_failure_falls_back(self, client, chat_path):
        response = await client.post(f"{chat_path}/chat", json={"content": "hi"})
        assert response.status_code == 201
        assert response.json()["assistant_message"]["content"] == "Echo: hi"
