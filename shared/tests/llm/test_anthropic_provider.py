"""The Anthropic adapter driving the real AsyncAnthropic client against the fake upstream."""

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
from genai_shared.llm.providers.anthropic_provider import AnthropicProvider, split_system
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import ChatMessage, ChatRequest, StreamEnd, TextDelta, ToolSpec
from genai_shared.testing.fake_upstream import FAKE_KEYS, RecordedRequest, RunningFakeUpstream
from genai_shared.testing.fake_upstream_fixtures import Drain

MODEL = "claude-haiku-4-5"


def ask(text: str = "hello there world", model: str = MODEL, **kwargs: Any) -> ChatRequest:
    messages = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content=text),
    ]
    return ChatRequest(model=model, messages=messages, **kwargs)


@pytest.fixture
async def provider(settings: ProviderSettings) -> AsyncIterator[AnthropicProvider]:
    async with AnthropicProvider.from_settings(settings) as adapter:
        yield adapter


class TestMessageConversion:
    def test_system_messages_are_lifted(self) -> None:
        system, messages = split_system(
            [
                ChatMessage(role="system", content="Be brief."),
                ChatMessage(role="user", content="hi"),
                ChatMessage(role="system", content="Answer in English."),
            ]
        )

        assert system == "Be brief.\n\nAnswer in English."
        assert messages == [{"role": "user", "content": "hi"}]


class TestComplete:
    async def test_reply_usage_and_request_id(
        self, provider: AnthropicProvider, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        response = await provider.complete(ask(temperature=0.5, stop=["###"]))

        assert response.content == "Echo: hello there world"
        assert response.finish_reason == "stop"
        assert response.provider == "anthropic"
        assert response.model == MODEL
        assert response.usage.output_tokens == 5
        assert response.usage.input_tokens > 0
        assert response.request_id
        assert response.request_id.startswith("req_")
        [sent] = fake_upstream_requests
        assert sent.path == "/v1/messages"
        assert sent.body["system"] == "Be brief."
        assert sent.body["messages"] == [{"role": "user", "content": "hello there world"}]
        assert sent.body["max_tokens"] == 1024  # the settings default; Anthropic requires one
        assert sent.body["temperature"] == 0.5
        assert sent.body["stop_sequences"] == ["###"]

    async def test_max_tokens_gives_length(self, provider: AnthropicProvider) -> None:
        response = await provider.complete(ask(max_tokens=2))

        assert response.finish_reason == "length"
        assert response.usage.output_tokens == 2

    async def test_refusal_is_content_filter(self, provider: AnthropicProvider) -> None:
        response = await provider.complete(ask(model=f"{MODEL}@fault=content_filter"))

        assert response.finish_reason == "content_filter"

    async def test_tool_use_round_trip(
        self, provider: AnthropicProvider, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        tool = ToolSpec(name="search", parameters={"type": "object", "properties": {}})
        first = await provider.complete(ask("find uv", tools=[tool]))

        assert first.finish_reason == "tool_calls"
        [call] = first.tool_calls
        assert (call.name, call.arguments) == ("search", '{"query": "find uv"}')
        assert fake_upstream_requests[0].body["tools"][0]["input_schema"] == tool.parameters

        second = await provider.complete(
            ChatRequest(
                model=MODEL,
                messages=[
                    ChatMessage(role="user", content="find uv"),
                    ChatMessage(role="assistant", tool_calls=[call]),
                    ChatMessage(role="tool", tool_call_id=call.id, content="a package manager"),
                ],
                tools=[tool],
            )
        )

        assert second.content == "Tool result: a package manager"
        sent = fake_upstream_requests[1].body["messages"]
        assert sent[1]["content"][0] == {
            "type": "tool_use",
            "id": call.id,
            "name": "search",
            "input": {"query": "find uv"},
        }
        assert sent[2]["content"][0]["type"] == "tool_result"


class TestStream:
    async def test_deltas_then_one_end(self, provider: AnthropicProvider) -> None:
        events = [event async for event in provider.stream(ask())]

        texts = [e.text for e in events if isinstance(e, TextDelta)]
        assert texts == ["Echo: ", "hello ", "there ", "world"]
        ends = [e for e in events if isinstance(e, StreamEnd)]
        assert ends == [events[-1]]
        end = ends[0]
        assert end.finish_reason == "stop"
        assert end.usage.output_tokens == 5  # from message_delta
        assert end.usage.input_tokens > 0  # from message_start
        assert end.model == MODEL
        assert end.request_id
        assert end.request_id.startswith("req_")

    async def test_streamed_tool_use(self, provider: AnthropicProvider) -> None:
        events = [e async for e in provider.stream(ask("find uv", tools=[ToolSpec(name="search")]))]

        end = events[-1]
        assert isinstance(end, StreamEnd)
        assert end.finish_reason == "tool_calls"
        assert [(c.name, c.arguments) for c in end.tool_calls] == [
            ("search", '{"query": "find uv"}')
        ]

    async def test_truncated_stream_is_an_error(
        self, provider: AnthropicProvider, drain: Drain
    ) -> None:
        result = await drain(provider.stream(ask(model=f"{MODEL}@fault=truncate_after=3")))

        assert isinstance(result.error, ProviderUnavailable)
        assert "message_stop" in str(result.error)
        assert result.texts == ["Echo: ", "hello ", "there "]

    async def test_truncated_after_every_delta_is_still_an_error(
        self, provider: AnthropicProvider, drain: Drain
    ) -> None:
        result = await drain(provider.stream(ask(model=f"{MODEL}@fault=truncate_after=99")))

        assert isinstance(result.error, ProviderUnavailable)
        assert result.text == "Echo: hello there world"
        assert result.ends == []

    async def test_error_event_after_deltas(
        self, provider: AnthropicProvider, drain: Drain
    ) -> None:
        result = await drain(provider.stream(ask(model=f"{MODEL}@fault=error_event_after=2")))

        assert isinstance(result.error, ProviderUnavailable)
        assert result.error.error_type == "overloaded_error"
        assert result.texts == ["Echo: ", "hello "]

    async def test_malformed_stream_event(self, provider: AnthropicProvider, drain: Drain) -> None:
        result = await drain(provider.stream(ask(model=f"{MODEL}@fault=malformed_json")))

        assert isinstance(result.error, ProviderUnavailable)
        assert "malformed" in str(result.error)

    async def test_consumer_stopping_early_releases_the_connection(
        self, settings: ProviderSettings, tracking_client: tuple[Any, Any]
    ) -> None:
        client, transport = tracking_client
        adapter = AnthropicProvider.from_settings(settings, http_client=client)
        stream = adapter.stream(ask(model=f"{MODEL}@fault=slow_drip=200"))

        assert isinstance(await anext(stream), TextDelta)
        assert transport.open_responses == 1
        await stream.aclose()

        assert transport.open_responses == 0

    async def test_cancelled_consumer_releases_the_connection(
        self, settings: ProviderSettings, tracking_client: tuple[Any, Any]
    ) -> None:
        client, transport = tracking_client
        adapter = AnthropicProvider.from_settings(settings, http_client=client)
        started = asyncio.Event()

        async def consume() -> None:
            async for _ in adapter.stream(ask(model=f"{MODEL}@fault=slow_drip=300")):
                started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), timeout=5)
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


class TestFaults:
    @pytest.mark.parametrize(("fault", "error_type", "retriable"), FAULTS)
    async def test_fault_maps_to_taxonomy(
        self,
        provider: AnthropicProvider,
        fault: str,
        error_type: type[ProviderError],
        retriable: bool,
    ) -> None:
        with pytest.raises(error_type) as caught:
            await provider.complete(ask(model=f"{MODEL}@fault={fault}"))

        assert caught.value.retriable is retriable
        assert caught.value.provider == "anthropic"

    async def test_overloaded_is_529(self, provider: AnthropicProvider) -> None:
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.complete(ask(model=f"{MODEL}@fault=overloaded"))

        assert caught.value.status_code == 529
        assert caught.value.error_type == "overloaded_error"

    async def test_rate_limit_carries_retry_after(self, provider: AnthropicProvider) -> None:
        with pytest.raises(RateLimited) as caught:
            await provider.complete(ask(model=f"{MODEL}@fault=rate_limit=4"))

        assert caught.value.retry_after == 4.0
        assert caught.value.request_id
        assert caught.value.request_id.startswith("req_")

    async def test_echoed_key_never_reaches_the_error(self, provider: AnthropicProvider) -> None:
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.complete(ask(model=f"{MODEL}@fault=server_error"))

        rendered = "".join(traceback.format_exception(caught.value))
        for text in (str(caught.value), repr(caught.value), rendered):
            assert not any(key in text for key in FAKE_KEYS)
            assert "S3CRET" not in text

    async def test_hang_times_out(self, fake_upstream: RunningFakeUpstream) -> None:
        settings = fake_upstream.provider_settings(llm_timeout_seconds=0.3)
        async with AnthropicProvider.from_settings(settings) as adapter:
            started = time.perf_counter()
            with pytest.raises(ProviderTimeout):
                await adapter.complete(ask(model=f"{MODEL}@fault=hang"))
        # Well before the fake's 30 s hang ends: our timeout fired, not a default one.
        assert time.perf_counter() - started < 20

    async def test_stream_hang_times_out(
        self, fake_upstream: RunningFakeUpstream, drain: Drain
    ) -> None:
        settings = fake_upstream.provider_settings(llm_timeout_seconds=0.3)
        async with AnthropicProvider.from_settings(settings) as adapter:
            result = await drain(adapter.stream(ask(model=f"{MODEL}@fault=hang")))

        assert isinstance(result.error, ProviderTimeout)


LONG = "a prompt long enough to cache " * 4
CACHE_SCRIPT = "cache_read=9,cache_write=5,cache_write_1h=2"


class TestPromptCache:
    """Anthropic's input_tokens exclude cache traffic; Usage keeps each count apart."""

    async def test_complete(self, provider: AnthropicProvider) -> None:
        plain = await provider.complete(ask(LONG))
        cached = await provider.complete(ask(LONG, model=f"{MODEL}@fault={CACHE_SCRIPT}"))

        usage = cached.usage
        assert (usage.cache_read_tokens, usage.cache_write_tokens) == (9, 7)
        assert usage.cache_write_1h_tokens == 2
        assert usage.input_tokens == plain.usage.input_tokens - 16
        assert usage.prompt_tokens == plain.usage.input_tokens
        assert usage.total == plain.usage.total

    async def test_stream(self, provider: AnthropicProvider, drain: Drain) -> None:
        plain = (await drain(provider.stream(ask(LONG)))).end.usage
        cached = (
            await drain(provider.stream(ask(LONG, model=f"{MODEL}@fault={CACHE_SCRIPT}")))
        ).end.usage

        assert (cached.cache_read_tokens, cached.cache_write_tokens) == (9, 7)
        assert cached.cache_write_1h_tokens == 2  # only message_start splits the writes
        assert cached.input_tokens == plain.input_tokens - 16
        assert cached.output_tokens == plain.output_tokens
        assert cached.total == plain.total

    async def test_no_cache_no_cache_counts(self, provider: AnthropicProvider) -> None:
        usage = (await provider.complete(ask(LONG))).usage

        assert (usage.cache_read_tokens, usage.cache_write_tokens) == (0, 0)
        assert usage.prompt_tokens == usage.input_tokens
