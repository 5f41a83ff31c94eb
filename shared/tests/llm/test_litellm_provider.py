"""The LiteLLM adapter driving real litellm (and the SDKs under it) against the fake upstream.

`import litellm` costs seconds, so every test here shares that one import.
"""

from __future__ import annotations

import subprocess
import sys
import time
import traceback
from collections.abc import AsyncIterator

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
from genai_shared.llm.providers.litellm_provider import LiteLLMProvider
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import ChatMessage, ChatRequest, StreamEnd, TextDelta
from genai_shared.testing.fake_upstream import FAKE_KEYS, RecordedRequest, RunningFakeUpstream
from genai_shared.testing.fake_upstream_fixtures import Drain

# litellm's own noise (its pydantic models), not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
    pytest.mark.filterwarnings("ignore:Item .* is using the `ReadOnly` qualifier:UserWarning"),
]

ROUTES = [
    ("openai/gpt-4o", "/v1/chat/completions"),
    ("anthropic/claude-haiku-4-5", "/v1/messages"),
    ("openrouter/openai/gpt-4o", "/api/v1/chat/completions"),
]


def ask(model: str, text: str = "hello there world", **kwargs: object) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content=text),
        ],
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def provider(settings: ProviderSettings) -> AsyncIterator[LiteLLMProvider]:
    async with LiteLLMProvider.from_settings(settings) as adapter:
        yield adapter


def test_module_import_does_not_import_litellm() -> None:
    """Importing the adapter must not pay litellm's ~10 s import; checked in a fresh process."""
    code = (
        "import sys, genai_shared.llm.providers.litellm_provider;"
        "sys.exit(1 if 'litellm' in sys.modules else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr or "litellm was imported"


class TestRoutes:
    @pytest.mark.parametrize(("model", "path"), ROUTES)
    async def test_complete(
        self,
        provider: LiteLLMProvider,
        fake_upstream_requests: list[RecordedRequest],
        model: str,
        path: str,
    ) -> None:
        response = await provider.complete(ask(model, max_tokens=30))

        assert response.content == "Echo: hello there world"
        assert response.finish_reason == "stop"
        assert response.provider == "litellm"
        assert response.usage.output_tokens == 5
        assert response.request_id
        assert response.request_id.startswith("req_")
        [sent] = fake_upstream_requests  # one call upstream: no litellm retries
        assert sent.path == path
        assert (
            sent.headers["authorization" if "messages" not in path else "x-api-key"] == "[redacted]"
        )

    @pytest.mark.parametrize(("model", "path"), ROUTES)
    async def test_stream(
        self,
        provider: LiteLLMProvider,
        fake_upstream_requests: list[RecordedRequest],
        model: str,
        path: str,
    ) -> None:
        events = [event async for event in provider.stream(ask(model))]

        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert text == "Echo: hello there world"
        end = events[-1]
        assert isinstance(end, StreamEnd)
        assert sum(isinstance(e, StreamEnd) for e in events) == 1
        assert end.finish_reason == "stop"
        assert end.usage.output_tokens == 5
        assert end.usage.input_tokens > 0
        assert [r.path for r in fake_upstream_requests] == [path]

    async def test_openrouter_headers(
        self, provider: LiteLLMProvider, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        await provider.complete(ask("openrouter/openai/gpt-4o"))

        assert fake_upstream_requests[0].headers["x-title"] == "genai-backend-roadmap"
        assert fake_upstream_requests[0].headers["http-referer"] == "http://localhost"

    async def test_anthropic_system_message(
        self, provider: LiteLLMProvider, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        await provider.complete(ask("anthropic/claude-haiku-4-5"))

        assert fake_upstream_requests[0].body["system"][0]["text"] == "Be brief."


LONG = "a prompt long enough to cache " * 4
CACHE_SCRIPT = "cache_read=9,cache_write=5,cache_write_1h=2"


class TestPromptCache:
    """Whatever the upstream's format, cache traffic leaves input_tokens the same way."""

    @pytest.mark.parametrize(
        ("route", "read", "write", "write_1h"),
        [
            ("anthropic/claude-haiku-4-5", 9, 7, 2),
            ("openai/gpt-4o", 9, 7, 0),  # the OpenAI format has no 1-hour split
            ("openrouter/anthropic/claude-haiku-4-5", 9, 7, 0),
        ],
    )
    async def test_complete_and_stream(
        self,
        provider: LiteLLMProvider,
        drain: Drain,
        route: str,
        read: int,
        write: int,
        write_1h: int,
    ) -> None:
        plain = (await provider.complete(ask(route, LONG))).usage
        cached = ask(f"{route}@fault={CACHE_SCRIPT}", LONG)
        completed = (await provider.complete(cached)).usage
        streamed = (await drain(provider.stream(cached))).end.usage

        for usage in (completed, streamed):
            assert (usage.cache_read_tokens, usage.cache_write_tokens) == (read, write)
            assert usage.cache_write_1h_tokens == write_1h
            assert usage.input_tokens == plain.input_tokens - read - write
            assert usage.total == plain.total


FAULTS: list[tuple[str, type[ProviderError]]] = [
    ("rate_limit", RateLimited),
    ("server_error", ProviderUnavailable),
    ("overloaded", ProviderUnavailable),
    ("malformed_json", ProviderUnavailable),
    ("auth_error", AuthenticationFailed),
    ("bad_request", InvalidRequest),
]


class TestFaults:
    @pytest.mark.parametrize("route", ["openai/gpt-4o", "anthropic/claude-haiku-4-5"])
    @pytest.mark.parametrize(("fault", "error_type"), FAULTS)
    async def test_fault_maps_to_taxonomy(
        self,
        provider: LiteLLMProvider,
        fake_upstream_requests: list[RecordedRequest],
        route: str,
        fault: str,
        error_type: type[ProviderError],
    ) -> None:
        with pytest.raises(error_type) as caught:
            await provider.complete(ask(f"{route}@fault={fault}"))

        assert caught.value.provider == "litellm"
        assert len(fake_upstream_requests) == 1  # litellm did not retry on its own
        rendered = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
        assert not any(key in rendered for key in FAKE_KEYS)

    @pytest.mark.parametrize("route", ["openai/gpt-4o", "anthropic/claude-haiku-4-5"])
    async def test_rate_limit_carries_retry_after(
        self, provider: LiteLLMProvider, route: str
    ) -> None:
        with pytest.raises(RateLimited) as caught:
            await provider.complete(ask(f"{route}@fault=rate_limit=2"))

        assert caught.value.retry_after == 2.0

    async def test_content_policy(self, provider: LiteLLMProvider) -> None:
        with pytest.raises(ContentFiltered):
            await provider.complete(ask("anthropic/claude-haiku-4-5@fault=content_policy"))

    @pytest.mark.parametrize("route", ["openai/gpt-4o", "anthropic/claude-haiku-4-5"])
    async def test_hang_times_out(self, fake_upstream: RunningFakeUpstream, route: str) -> None:
        settings = fake_upstream.provider_settings(llm_timeout_seconds=0.3)
        async with LiteLLMProvider.from_settings(settings) as adapter:
            started = time.perf_counter()
            with pytest.raises(ProviderTimeout):
                await adapter.complete(ask(f"{route}@fault=hang"))
        # Well before the fake's 30 s hang ends: our timeout fired, not a default one.
        assert time.perf_counter() - started < 20

    @pytest.mark.parametrize("route", ["openai/gpt-4o", "anthropic/claude-haiku-4-5"])
    async def test_truncated_stream_is_an_error(
        self, provider: LiteLLMProvider, drain: Drain, route: str
    ) -> None:
        result = await drain(provider.stream(ask(f"{route}@fault=truncate_after=2")))

        assert isinstance(result.error, ProviderUnavailable)
        assert result.texts == ["Echo: ", "hello "]

    @pytest.mark.parametrize("route", ["openai/gpt-4o", "anthropic/claude-haiku-4-5"])
    async def test_error_event_after_deltas(
        self, provider: LiteLLMProvider, drain: Drain, route: str
    ) -> None:
        result = await drain(provider.stream(ask(f"{route}@fault=error_event_after=1")))

        assert isinstance(result.error, ProviderUnavailable)
        assert result.texts == ["Echo: "]


class TestLifecycle:
    async def test_aclose_closes_the_clients_it_created(self, settings: ProviderSettings) -> None:
        adapter = LiteLLMProvider.from_settings(settings)
        await adapter.complete(ask("openai/gpt-4o"))
        await adapter.complete(ask("anthropic/claude-haiku-4-5"))
        clients = dict(adapter._clients)

        await adapter.aclose()

        assert clients["openai"].is_closed()
        # (its `.client` property would open a new one; look at the one it had)
        assert clients["anthropic"]._client.is_closed

    async def test_stopping_a_stream_early_closes_it(self, provider: LiteLLMProvider) -> None:
        stream = provider.stream(ask("anthropic/claude-haiku-4-5@fault=slow_drip=100"))

        assert isinstance(await anext(stream), TextDelta)
        await stream.aclose()  # must not hang or leak; the next call still works

        response = await provider.complete(ask("anthropic/claude-haiku-4-5"))
        assert response.content == "Echo: hello there world"
