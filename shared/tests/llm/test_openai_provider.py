"""The OpenAI adapter driving the real AsyncOpenAI client against the fake upstream."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest

from genai_shared.llm.errors import (
    AuthenticationFailed,
    ContentFiltered,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from genai_shared.llm.providers.openai_provider import OpenAIProvider
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import (
    ChatMessage,
    ChatRequest,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from genai_shared.testing.fake_upstream import (
    FAKE_KEYS,
    FAKE_OPENAI_KEY,
    RecordedRequest,
    RunningFakeUpstream,
)
from genai_shared.testing.fake_upstream_fixtures import Drain


def ask(text: str = "hello there world", model: str = "gpt-4o", **kwargs: object) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content=text),
        ],
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def provider(settings: ProviderSettings) -> AsyncIterator[OpenAIProvider]:
    async with OpenAIProvider.from_settings(settings) as adapter:
        yield adapter


class TestComplete:
    async def test_reply_usage_and_request_id(
        self, provider: OpenAIProvider, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        response = await provider.complete(ask(max_tokens=50, temperature=0.2, stop=["###"]))

        assert response.content == "Echo: hello there world"
        assert response.finish_reason == "stop"
        assert response.provider == "openai"
        assert response.model == "gpt-4o"
        assert response.usage.input_tokens > 0
        assert response.usage.output_tokens == 5
        assert response.usage.total == response.usage.input_tokens + 5
        assert response.request_id
        assert response.request_id.startswith("req_")
        [sent] = fake_upstream_requests
        assert sent.path == "/v1/chat/completions"
        assert sent.body["max_completion_tokens"] == 50
        assert sent.body["temperature"] == 0.2
        assert sent.body["stop"] == ["###"]
        assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent.headers["authorization"] == "[redacted]"
        assert sent.headers["x-stainless-retry-count"] == "0"

    async def test_max_tokens_gives_length(self, provider: OpenAIProvider) -> None:
        response = await provider.complete(ask(max_tokens=2))

        assert response.finish_reason == "length"
        assert response.usage.output_tokens == 2

    async def test_extra_headers_are_sent(
        self, provider: OpenAIProvider, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        await provider.complete(ask(extra_headers={"X-Conversation-Id": "c-42"}))

        assert fake_upstream_requests[0].headers["x-conversation-id"] == "c-42"

    async def test_tool_call_round_trip(
        self, provider: OpenAIProvider, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        tool = ToolSpec(
            name="search",
            description="Search the docs.",
            parameters={"type": "object", "properties": {"query": {"type": "string"}}},
        )
        first = await provider.complete(ask("find uv", tools=[tool]))

        assert first.finish_reason == "tool_calls"
        [call] = first.tool_calls
        assert call.name == "search"
        assert call.arguments == '{"query": "find uv"}'

        followup = ChatRequest(
            model="gpt-4o",
            messages=[
                ChatMessage(role="user", content="find uv"),
                ChatMessage(role="assistant", tool_calls=[call]),
                ChatMessage(role="tool", tool_call_id=call.id, content="uv is a package manager"),
            ],
            tools=[tool],
        )
        second = await provider.complete(followup)

        assert second.content == "Tool result: uv is a package manager"
        sent = fake_upstream_requests[1].body["messages"]
        assert sent[1]["tool_calls"][0]["function"]["name"] == "search"
        assert sent[2] == {
            "role": "tool",
            "content": "uv is a package manager",
            "tool_call_id": call.id,
        }

    async def test_content_filter_is_a_finish_reason(self, provider: OpenAIProvider) -> None:
        response = await provider.complete(ask(model="gpt-4o@fault=content_filter"))

        assert response.finish_reason == "content_filter"
        assert response.content == ""


class TestStream:
    async def test_deltas_then_one_end(
        self,
        provider: OpenAIProvider,
        drain: Drain,
        fake_upstream_requests: list[RecordedRequest],
    ) -> None:
        result = await drain(provider.stream(ask()))

        assert result.error is None
        assert result.texts == ["Echo: ", "hello ", "there ", "world"]
        assert result.end.finish_reason == "stop"
        assert result.end.usage.output_tokens == 5
        assert (result.end.request_id or "").startswith("req_")
        assert fake_upstream_requests[0].body["stream_options"] == {"include_usage": True}

    async def test_streamed_tool_call(self, provider: OpenAIProvider, drain: Drain) -> None:
        result = await drain(provider.stream(ask("find uv", tools=[ToolSpec(name="search")])))

        end = result.end
        assert end.finish_reason == "tool_calls"
        assert end.tool_calls == [
            ToolCall(id=end.tool_calls[0].id, name="search", arguments='{"query": "find uv"}')
        ]

    async def test_truncated_stream_is_an_error_not_a_short_reply(
        self, provider: OpenAIProvider, drain: Drain
    ) -> None:
        result = await drain(provider.stream(ask(model="gpt-4o@fault=truncate_after=2")))

        assert isinstance(result.error, ProviderUnavailable)
        assert result.texts == ["Echo: ", "hello "]
        assert result.ends == []

    async def test_error_event_after_deltas(self, provider: OpenAIProvider, drain: Drain) -> None:
        result = await drain(provider.stream(ask(model="gpt-4o@fault=error_event_after=1")))

        assert isinstance(result.error, ProviderUnavailable)
        assert result.error.retriable
        assert result.texts == ["Echo: "]

    async def test_malformed_stream_event(self, provider: OpenAIProvider, drain: Drain) -> None:
        result = await drain(provider.stream(ask(model="gpt-4o@fault=malformed_json")))

        assert isinstance(result.error, ProviderUnavailable)
        assert "malformed" in str(result.error)

    async def test_error_before_first_delta(self, provider: OpenAIProvider, drain: Drain) -> None:
        result = await drain(provider.stream(ask(model="gpt-4o@fault=rate_limit=2")))

        assert isinstance(result.error, RateLimited)
        assert result.error.retry_after == 2.0
        assert result.texts == []

    async def test_consumer_stopping_early_releases_the_connection(
        self,
        settings: ProviderSettings,
        tracking_client: tuple[Any, Any],
    ) -> None:
        client, transport = tracking_client
        adapter = OpenAIProvider.from_settings(settings, http_client=client)
        stream = adapter.stream(ask(model="gpt-4o@fault=slow_drip=200"))

        first = await anext(stream)
        assert isinstance(first, TextDelta)
        assert transport.open_responses == 1
        await stream.aclose()

        assert transport.open_responses == 0
        await adapter.aclose()

    async def test_cancelled_consumer_releases_the_connection(
        self,
        settings: ProviderSettings,
        tracking_client: tuple[Any, Any],
    ) -> None:
        client, transport = tracking_client
        adapter = OpenAIProvider.from_settings(settings, http_client=client)
        first_delta = asyncio.Event()

        async def consume() -> None:
            async for _ in adapter.stream(ask(model="gpt-4o@fault=slow_drip=300")):
                first_delta.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first_delta.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert transport.open_responses == 0


FAULTS: list[tuple[str, type[ProviderError], bool]] = [
    ("rate_limit", RateLimited, True),
    ("server_error", ProviderUnavailable, True),
    ("overloaded", ProviderUnavailable, True),
    ("malformed_json", ProviderUnavailable, True),
    ("auth_error", AuthenticationFailed, False),
    ("bad_request", InvalidRequest, False),
    ("content_policy", ContentFiltered, False),
]


LONG = "a prompt long enough to cache " * 4


class TestPromptCache:
    """OpenAI counts cached tokens inside prompt_tokens; the adapter takes them out."""

    async def test_complete(self, provider: OpenAIProvider) -> None:
        plain = await provider.complete(ask(LONG))
        cached = await provider.complete(ask(LONG, model="gpt-4o@fault=cache_read=12"))

        usage = cached.usage
        assert (usage.cache_read_tokens, usage.cache_write_tokens) == (12, 0)
        assert usage.input_tokens == plain.usage.input_tokens - 12
        assert usage.prompt_tokens == plain.usage.input_tokens
        assert usage.total == plain.usage.total

    async def test_stream(self, provider: OpenAIProvider, drain: Drain) -> None:
        plain = (await drain(provider.stream(ask(LONG)))).end.usage
        cached = (await drain(provider.stream(ask(LONG, model="gpt-4o@fault=cache_read=12")))).end

        assert cached.usage.cache_read_tokens == 12
        assert cached.usage.input_tokens == plain.input_tokens - 12
        assert cached.usage.total == plain.total


class TestFaults:
    @pytest.mark.parametrize(("fault", "error_type", "retriable"), FAULTS)
    async def test_fault_maps_to_taxonomy(
        self,
        provider: OpenAIProvider,
        fault: str,
        error_type: type[ProviderError],
        retriable: bool,
    ) -> None:
        with pytest.raises(error_type) as caught:
            await provider.complete(ask(model=f"gpt-4o@fault={fault}"))

        assert caught.value.retriable is retriable
        assert caught.value.provider == "openai"

    async def test_fault_by_header(self, provider: OpenAIProvider) -> None:
        with pytest.raises(AuthenticationFailed):
            await provider.complete(ask(extra_headers={"X-Fake-Fault": "auth_error"}))

    async def test_rate_limit_carries_retry_after(self, provider: OpenAIProvider) -> None:
        with pytest.raises(RateLimited) as caught:
            await provider.complete(ask(model="gpt-4o@fault=rate_limit=3"))

        assert caught.value.retry_after == 3.0
        assert caught.value.status_code == 429
        assert caught.value.request_id
        assert caught.value.request_id.startswith("req_")

    async def test_echoed_key_never_reaches_the_error(self, provider: OpenAIProvider) -> None:
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.complete(ask(model="gpt-4o@fault=server_error"))

        error = caught.value
        rendered = "".join(traceback.format_exception(error))
        for text in (str(error), repr(error), error.message, rendered):
            for key in FAKE_KEYS:
                assert key not in text
            assert "S3CRET" not in text
        assert error.status_code == 500

    async def test_bad_request_keeps_the_upstream_explanation(
        self, provider: OpenAIProvider
    ) -> None:
        with pytest.raises(InvalidRequest, match="temperature"):
            await provider.complete(ask(model="gpt-4o@fault=bad_request"))

    async def test_hang_times_out(self, fake_upstream: RunningFakeUpstream) -> None:
        settings = fake_upstream.provider_settings(llm_timeout_seconds=0.3)
        async with OpenAIProvider.from_settings(settings) as adapter:
            started = time.perf_counter()
            with pytest.raises(ProviderTimeout):
                await adapter.complete(ask(model="gpt-4o@fault=hang"))
        # Well before the fake's 30 s hang ends: our timeout fired, not a default one.
        assert time.perf_counter() - started < 20

    async def test_unreachable_host_is_unavailable(self) -> None:
        adapter = OpenAIProvider(api_key=FAKE_OPENAI_KEY, base_url="http://127.0.0.1:9/v1")
        with pytest.raises(ProviderUnavailable):
            await adapter.complete(ask())
        await adapter.aclose()
