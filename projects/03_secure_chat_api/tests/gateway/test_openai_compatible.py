"""/v1/chat/completions and /v1/models, driven by the official ``openai`` SDK.

Twice over: on embedded defaults (the offline mock provider), and with the project's
providers pointed at the fake upstream, so a request goes SDK -> gateway -> real provider
SDK -> fake OpenAI / Anthropic server and back, in both wire formats. The SDK's
``api_key`` is an API key of this service.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import httpx
import openai
import pytest
from sqlalchemy import select

from genai_shared.db.session import Database
from genai_shared.testing.fake_upstream import FAKE_OPENAI_KEY
from genai_shared.testing.live_server import live_server
from secure_chat_api.core.database import Base
from secure_chat_api.main import create_app
from secure_chat_api.usage.models import UsageRecord

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say something"},
]


class Gateway(str):
    """The base URL of a running gateway, with an API key of a signed-up user."""

    api_key: str
    database_url: str


@contextmanager
def _serve(settings):
    """Serve the app on a socket with its tables, a user and an API key (once per module)."""

    async def create_tables() -> None:
        db = Database(settings.database_url)
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await db.dispose()

    asyncio.run(create_tables())
    with live_server(create_app(settings)) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            email, password = "gw@example.com", "a long enough password"
            body = {"email": email, "display_name": "G", "password": password}
            assert client.post("/api/v1/auth/signup", json=body).status_code == 201
            login = client.post(
                "/api/v1/auth/login", data={"username": email, "password": password}
            )
            key = client.post(
                "/api/v1/api-keys",
                json={"name": "sdk"},
                headers={"Authorization": f"Bearer {login.json()['access_token']}"},
            )
        gateway = Gateway(url)
        gateway.api_key = key.json()["key"]
        gateway.database_url = settings.database_url
        yield gateway


def _sqlite_url(tmp_path_factory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('gateway')}/gateway.db"


@pytest.fixture(scope="module")
def default_gateway(tmp_path_factory, settings_factory):
    """Project 03 on embedded defaults: no provider configured, the mock answers."""
    with _serve(settings_factory(database_url=_sqlite_url(tmp_path_factory))) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def upstream_gateway(tmp_path_factory, fake_upstream, settings_factory):
    """Project 03 with OpenAI, Anthropic and OpenRouter all pointed at the fake upstream."""
    provider_settings = fake_upstream.provider_settings()
    settings = settings_factory(
        database_url=_sqlite_url(tmp_path_factory), **provider_settings.model_dump()
    )
    with _serve(settings) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def fallback_gateway(tmp_path_factory, fake_upstream, settings_factory):
    """Like ``upstream_gateway``, with ``LLM_FALLBACKS=mock/echo-1`` behind every model."""
    provider_settings = fake_upstream.provider_settings(llm_fallbacks=["mock/echo-1"])
    settings = settings_factory(
        database_url=_sqlite_url(tmp_path_factory), **provider_settings.model_dump()
    )
    with _serve(settings) as gateway:
        yield gateway


def _client(gateway: Gateway, api_key: str | None = None) -> openai.AsyncOpenAI:
    # The gateway decides on retries and failover; the caller's SDK must not retry on top.
    return openai.AsyncOpenAI(
        base_url=f"{gateway}/v1", api_key=api_key or gateway.api_key, max_retries=0
    )


async def _ledger(gateway: Gateway) -> list[UsageRecord]:
    db = Database(gateway.database_url)
    try:
        async with db.sessionmaker() as session:
            return list(await session.scalars(select(UsageRecord)))
    finally:
        await db.dispose()


class TestOnEmbeddedDefaults:
    async def test_completion(self, default_gateway):
        async with _client(default_gateway) as client:
            reply = await client.chat.completions.create(model="mock/echo-1", messages=MESSAGES)
        assert reply.object == "chat.completion"
        assert reply.model == "mock/echo-1"
        assert reply.choices[0].message.role == "assistant"
        assert reply.choices[0].message.content == "Echo: Say something"
        assert reply.choices[0].finish_reason == "stop"
        assert reply.usage.prompt_tokens > 0
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    async def test_stream_with_usage(self, default_gateway):
        async with _client(default_gateway) as client:
            stream = await client.chat.completions.create(
                model="mock/echo-1",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Echo: Say something"
        assert chunks[0].choices[0].delta.role == "assistant"
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "stop"
        assert chunks[-1].choices == []
        assert chunks[-1].usage.completion_tokens > 0
        assert len({c.id for c in chunks}) == 1

    async def test_the_call_is_in_the_ledger(self, default_gateway):
        async with _client(default_gateway) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model="mock/echo-1", messages=MESSAGES
            )
        reply = raw.parse()
        request_id = raw.headers["x-request-id"]
        (row,) = [r for r in await _ledger(default_gateway) if r.request_id == request_id]
        assert (row.route, row.status, row.provider, row.model) == (
            "gateway",
            "complete",
            "mock",
            "echo-1",
        )
        assert row.output_tokens == reply.usage.completion_tokens
        assert row.api_key_id is not None

    async def test_a_streamed_retry_with_the_same_key_is_replayed(self, default_gateway):
        """What a client that lost the connection does: the same request, the same key."""
        key = {"Idempotency-Key": "sdk-stream-retry"}
        calls_before = len(await _ledger(default_gateway))
        async with _client(default_gateway) as client:
            results = []
            for _ in range(2):
                stream = await client.chat.completions.create(
                    model="mock/echo-1",
                    messages=MESSAGES,
                    stream=True,
                    stream_options={"include_usage": True},
                    extra_headers=key,
                )
                results.append([chunk async for chunk in stream])
        first, again = results
        for chunks in (first, again):
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
                "Echo: Say something"
            )
        assert again[-1].usage == first[-1].usage
        assert {c.id for c in again} == {c.id for c in first}
        assert len(await _ledger(default_gateway)) == calls_before + 1  # one provider call

    @pytest.mark.parametrize("api_key", ["not-a-key", "sca_000000000000_" + "x" * 43])
    async def test_a_bad_key_is_401(self, default_gateway, api_key):
        async with _client(default_gateway, api_key) as client:
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(model="mock/echo-1", messages=MESSAGES)
            with pytest.raises(openai.AuthenticationError):
                await client.models.list()

    async def test_models(self, default_gateway):
        async with _client(default_gateway) as client:
            models = [m.id async for m in client.models.list()]
        assert "mock/echo-1" in models

    async def test_unknown_model_is_a_422_the_sdk_understands(self, default_gateway):
        async with _client(default_gateway) as client:
            with pytest.raises(openai.UnprocessableEntityError) as caught:
                await client.chat.completions.create(model="nope/x", messages=MESSAGES)
        assert "nope/x" in caught.value.message

    @pytest.mark.parametrize("field", ["api_base", "base_url", "api_key"])
    async def test_callers_cannot_redirect_the_upstream(self, default_gateway, field):
        async with _client(default_gateway) as client:
            with pytest.raises(openai.UnprocessableEntityError):
                await client.chat.completions.create(
                    model="mock/echo-1",
                    messages=MESSAGES,
                    extra_body={field: "http://attacker.example/v1"},
                )


class TestThroughTheFakeUpstream:
    @pytest.mark.parametrize(
        "model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "openrouter/openai/gpt-4o"]
    )
    async def test_completion_over_each_provider(
        self, upstream_gateway, fake_upstream_requests, model
    ):
        async with _client(upstream_gateway) as client:
            reply = await client.chat.completions.create(
                model=model, messages=MESSAGES, max_tokens=50
            )
        assert reply.choices[0].message.content == "Echo: Say something"
        assert reply.usage.completion_tokens > 0
        upstream = fake_upstream_requests[-1]
        expected_path = "/v1/messages" if model.startswith("anthropic/") else "chat/completions"
        assert upstream.path.endswith(expected_path)

    @pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
    async def test_stream_over_each_provider(self, upstream_gateway, model):
        async with _client(upstream_gateway) as client:
            stream = await client.chat.completions.create(
                model=model,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
            "Echo: Say something"
        )
        assert chunks[-1].usage.prompt_tokens > 0

    async def test_upstream_rate_limit_reaches_the_caller_as_429(self, upstream_gateway):
        async with _client(upstream_gateway) as client:
            with pytest.raises(openai.RateLimitError) as caught:
                await client.chat.completions.create(
                    model="openai/gpt-4o-mini@fault=rate_limit=2", messages=MESSAGES
                )
        assert caught.value.response.headers["retry-after"] == "2"

    async def test_upstream_key_never_reaches_the_caller(self, upstream_gateway):
        async with _client(upstream_gateway) as client:
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(
                    model="openai/gpt-4o-mini@fault=server_error", messages=MESSAGES
                )
        assert caught.value.status_code == 502
        assert FAKE_OPENAI_KEY not in caught.value.response.text

    async def test_broken_stream_is_an_error_not_a_short_answer(self, upstream_gateway):
        async with _client(upstream_gateway) as client:
            stream = await client.chat.completions.create(
                model="openai/gpt-4o-mini@fault=truncate_after=1", messages=MESSAGES, stream=True
            )
            with pytest.raises(openai.APIError):
                async for _ in stream:
                    pass


class TestMetering:
    """Every provider call of a gateway call is a ledger row, relayed ones included."""

    @pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
    async def test_a_relayed_call_is_settled_with_the_upstreams_usage(
        self, upstream_gateway, stream
    ):
        async with _client(upstream_gateway) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model="openai/gpt-4o-mini", messages=MESSAGES, stream=stream
            )
            parsed = raw.parse()
            if stream:
                text = "".join(
                    [c.choices[0].delta.content or "" async for c in parsed if c.choices]
                )
            else:
                text = parsed.choices[0].message.content
        assert text == "Echo: Say something"
        rows = [
            r
            for r in await _ledger(upstream_gateway)
            if r.request_id == raw.headers["x-request-id"]
        ]
        assert [(r.provider, r.model, r.status, r.attempt) for r in rows] == [
            ("openai", "gpt-4o-mini", "complete", 0)
        ]
        assert rows[0].usage_estimated is False
        assert rows[0].input_tokens > 0
        assert rows[0].output_tokens > 0
        assert rows[0].cost_micro_usd > 0

    @pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
    async def test_a_failed_relay_attempt_and_its_fallback_are_two_rows(
        self, fallback_gateway, stream
    ):
        async with _client(fallback_gateway) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model="openai/gpt-4o-mini@fault=server_error", messages=MESSAGES, stream=stream
            )
            parsed = raw.parse()
            if stream:
                [c async for c in parsed]
        rows = [
            r
            for r in await _ledger(fallback_gateway)
            if r.request_id == raw.headers["x-request-id"]
        ]
        rows.sort(key=lambda r: r.attempt)
        assert [(r.provider, r.status, r.error_type, r.attempt) for r in rows] == [
            ("openai", "error", "ProviderUnavailable", 0),
            ("mock", "complete", None, 1),
        ]
        assert rows[0].cost_micro_usd == 0
