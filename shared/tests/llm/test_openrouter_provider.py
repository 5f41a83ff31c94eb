"""OpenRouter reuses the OpenAI adapter: its base URL, its app headers, vendor/model names."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator

import pytest

from genai_shared.llm.errors import ProviderUnavailable, RateLimited
from genai_shared.llm.providers.openrouter_provider import OpenRouterProvider
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import ChatMessage, ChatRequest, StreamEnd, TextDelta
from genai_shared.testing.fake_upstream import FAKE_KEYS, RecordedRequest, RunningFakeUpstream


def ask(model: str = "anthropic/claude-haiku-4-5", **kwargs: object) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[ChatMessage(role="user", content="hello there")],
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def provider(fake_upstream: RunningFakeUpstream) -> AsyncIterator[OpenRouterProvider]:
    settings = fake_upstream.provider_settings(
        openrouter_site_url="https://example.org/app", openrouter_app_name="Roadmap Tests"
    )
    async with OpenRouterProvider.from_settings(settings) as adapter:
        yield adapter


async def test_complete_sends_app_headers_to_its_base_url(
    provider: OpenRouterProvider, fake_upstream_requests: list[RecordedRequest]
) -> None:
    response = await provider.complete(ask(max_tokens=20))

    assert response.content == "Echo: hello there"
    assert response.provider == "openrouter"
    assert response.model == "anthropic/claude-haiku-4-5"
    [sent] = fake_upstream_requests
    assert sent.path == "/api/v1/chat/completions"
    assert sent.headers["http-referer"] == "https://example.org/app"
    assert sent.headers["x-title"] == "Roadmap Tests"
    assert sent.body["model"] == "anthropic/claude-haiku-4-5"
    assert sent.body["max_tokens"] == 20  # OpenRouter's name, not max_completion_tokens


async def test_stream(provider: OpenRouterProvider) -> None:
    events = [event async for event in provider.stream(ask())]

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Echo: hello there"
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].usage.output_tokens == 4


async def test_cache_reads_and_writes_leave_the_input_count(
    provider: OpenRouterProvider,
) -> None:
    """OpenRouter reports Anthropic cache writes as prompt_tokens_details.cache_write_tokens."""
    long = ChatMessage(role="user", content="a prompt long enough to cache " * 4)
    plain = await provider.complete(
        ChatRequest(model="anthropic/claude-haiku-4-5", messages=[long])
    )
    cached = await provider.complete(
        ChatRequest(
            model="anthropic/claude-haiku-4-5@fault=cache_read=10,cache_write=4", messages=[long]
        )
    )

    assert (cached.usage.cache_read_tokens, cached.usage.cache_write_tokens) == (10, 4)
    assert cached.usage.input_tokens == plain.usage.input_tokens - 14
    assert cached.usage.total == plain.usage.total


async def test_errors_are_mapped_under_its_own_name(provider: OpenRouterProvider) -> None:
    with pytest.raises(RateLimited) as caught:
        await provider.complete(ask(model="openai/gpt-4o@fault=rate_limit"))

    assert caught.value.provider == "openrouter"
    assert caught.value.retry_after == 1.0


async def test_echoed_key_is_scrubbed(provider: OpenRouterProvider) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(ask(model="openai/gpt-4o@fault=server_error"))

    rendered = "".join(traceback.format_exception(caught.value)) + str(caught.value)
    assert not any(key in rendered for key in FAKE_KEYS)


def test_default_base_url_is_openrouter(settings: ProviderSettings) -> None:
    assert ProviderSettings(_env_file=None).openrouter_base_url == "https://openrouter.ai/api/v1"
