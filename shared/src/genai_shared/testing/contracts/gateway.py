"""The OpenAI-compatible gateway (``/v1/chat/completions``, ``/v1/models``), through the SDK.

The official ``openai`` SDK talks to the project's app served on a real socket, so what is
tested is what a caller's code sees. Twice over: on embedded defaults (the offline mock
provider answers), and with the project's providers pointed at the fake upstream, so a
request goes SDK -> gateway -> real provider SDK -> fake OpenAI / Anthropic server and back,
in both wire formats.

Fixtures a project's conftest provides, each a ``Gateway``:

- ``default_gateway``: the app on its embedded defaults, no provider configured.
- ``upstream_gateway``: the app with OpenAI, Anthropic and OpenRouter pointed at the plugin's
  ``fake_upstream`` (``fake_upstream.provider_settings()``).

``fake_upstream_requests`` comes from the genai_shared plugin. ``sdk_client`` and
``MESSAGES`` are for a project's own gateway tests too.
"""

from __future__ import annotations

from dataclasses import dataclass

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from genai_shared.testing.fake_upstream import FAKE_OPENAI_KEY, RecordedRequest

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say something"},
]
ECHO = "Echo: Say something"


@dataclass(frozen=True)
class Gateway:
    """A running gateway: where it listens, the key a caller presents, where it stores.

    ``api_key`` is an API key of the service where it checks one (03); any string otherwise.
    ``database_url`` is for a project's own checks of what a call left behind.
    """

    base_url: str
    api_key: str
    database_url: str


def sdk_client(gateway: Gateway, api_key: str | None = None) -> openai.AsyncOpenAI:
    """The official SDK on ``gateway``, with its key unless the test names another.

    The gateway decides on retries and failover: the caller's SDK must not retry on top.
    """
    return openai.AsyncOpenAI(
        base_url=f"{gateway.base_url}/v1", api_key=api_key or gateway.api_key, max_retries=0
    )


class OnEmbeddedDefaultsContract:
    """With nothing configured the mock answers, in the exact shapes the SDK expects."""

    async def test_completion(self, default_gateway: Gateway) -> None:
        async with sdk_client(default_gateway) as client:
            reply = await client.chat.completions.create(model="mock/echo-1", messages=MESSAGES)
        assert reply.object == "chat.completion"
        assert reply.model == "mock/echo-1"
        assert reply.choices[0].message.role == "assistant"
        assert reply.choices[0].message.content == ECHO
        assert reply.choices[0].finish_reason == "stop"
        assert reply.usage is not None
        assert reply.usage.prompt_tokens > 0
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    async def test_stream_with_usage(self, default_gateway: Gateway) -> None:
        async with sdk_client(default_gateway) as client:
            stream = await client.chat.completions.create(
                model="mock/echo-1",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == ECHO
        assert chunks[0].choices[0].delta.role == "assistant"
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "stop"
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens > 0
        assert len({c.id for c in chunks}) == 1

    async def test_models(self, default_gateway: Gateway) -> None:
        async with sdk_client(default_gateway) as client:
            models = [m.id async for m in client.models.list()]
        assert "mock/echo-1" in models

    async def test_unknown_model_is_a_422_the_sdk_understands(
        self, default_gateway: Gateway
    ) -> None:
        async with sdk_client(default_gateway) as client:
            with pytest.raises(openai.UnprocessableEntityError) as caught:
                await client.chat.completions.create(model="nope/x", messages=MESSAGES)
        assert "nope/x" in caught.value.message

    @pytest.mark.parametrize("field", ["api_base", "base_url", "api_key"])
    async def test_callers_cannot_redirect_the_upstream(
        self, default_gateway: Gateway, field: str
    ) -> None:
        async with sdk_client(default_gateway) as client:
            with pytest.raises(openai.UnprocessableEntityError):
                await client.chat.completions.create(
                    model="mock/echo-1",
                    messages=MESSAGES,
                    extra_body={field: "http://attacker.example/v1"},
                )


class ThroughTheFakeUpstreamContract:
    """Real provider SDKs behind the gateway: replies, streams and failures relayed faithfully."""

    @pytest.mark.parametrize(
        "model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "openrouter/openai/gpt-4o"]
    )
    async def test_completion_over_each_provider(
        self, upstream_gateway: Gateway, fake_upstream_requests: list[RecordedRequest], model: str
    ) -> None:
        async with sdk_client(upstream_gateway) as client:
            reply = await client.chat.completions.create(
                model=model, messages=MESSAGES, max_tokens=50
            )
        assert reply.choices[0].message.content == ECHO
        assert reply.usage is not None
        assert reply.usage.completion_tokens > 0
        upstream = fake_upstream_requests[-1]
        expected_path = "/v1/messages" if model.startswith("anthropic/") else "chat/completions"
        assert upstream.path.endswith(expected_path)

    @pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
    async def test_stream_over_each_provider(self, upstream_gateway: Gateway, model: str) -> None:
        async with sdk_client(upstream_gateway) as client:
            stream = await client.chat.completions.create(
                model=model,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ECHO
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.prompt_tokens > 0

    async def test_upstream_rate_limit_reaches_the_caller_as_429(
        self, upstream_gateway: Gateway
    ) -> None:
        async with sdk_client(upstream_gateway) as client:
            with pytest.raises(openai.RateLimitError) as caught:
                await client.chat.completions.create(
                    model="openai/gpt-4o-mini@fault=rate_limit=2", messages=MESSAGES
                )
        assert caught.value.response.headers["retry-after"] == "2"

    async def test_upstream_key_never_reaches_the_caller(self, upstream_gateway: Gateway) -> None:
        async with sdk_client(upstream_gateway) as client:
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(
                    model="openai/gpt-4o-mini@fault=server_error", messages=MESSAGES
                )
        assert caught.value.status_code == 502
        assert FAKE_OPENAI_KEY not in caught.value.response.text

    async def test_broken_stream_is_an_error_not_a_short_answer(
        self, upstream_gateway: Gateway
    ) -> None:
        async with sdk_client(upstream_gateway) as client:
            stream = await client.chat.completions.create(
                model="openai/gpt-4o-mini@fault=truncate_after=1", messages=MESSAGES, stream=True
            )
            with pytest.raises(openai.APIError):
                async for _ in stream:
                    pass
