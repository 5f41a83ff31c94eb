"""The OpenAI-format byte relay, against the fake upstream over loopback."""

from __future__ import annotations

import json

import pytest

from genai_shared.llm.errors import (
    AuthenticationFailed,
    InvalidRequest,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from genai_shared.llm.relay import OpenAIRelay, usage_of
from genai_shared.llm.types import Usage
from genai_shared.testing.fake_upstream import FAKE_OPENAI_KEY

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "relay this"}]}


@pytest.fixture
async def relay(fake_upstream):
    relay = OpenAIRelay.for_provider("openai", fake_upstream.provider_settings())
    assert relay is not None
    yield relay
    await relay.aclose()


def _body(model: str = "gpt-4o-mini", **extra) -> dict:
    return {**BODY, "model": model, **extra}


async def _collect(stream) -> list[dict | str]:
    events: list[dict | str] = []
    async for chunk in stream:
        assert chunk.startswith(b"data: ")
        assert chunk.endswith(b"\n\n")
        data = chunk[6:-2]
        events.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return events


async def test_complete(relay, fake_upstream_requests):
    payload, usage = await relay.complete(_body())
    assert payload["choices"][0]["message"]["content"] == "Echo: relay this"
    assert usage.input_tokens == payload["usage"]["prompt_tokens"] > 0
    sent = fake_upstream_requests[-1]
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["stream"] is False


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream(relay, include_usage):
    body = _body(stream_options={"include_usage": True}) if include_usage else _body()
    stream = await relay.stream(body)
    events = await _collect(stream)
    assert events[-1] == "[DONE]"
    text = "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in events[:-1]
        if isinstance(e, dict) and e["choices"]
    )
    assert text == "Echo: relay this"
    assert stream.usage is not None
    assert stream.usage.output_tokens > 0
    assert stream.finish_reason == "stop"
    usage_chunks = [e for e in events if isinstance(e, dict) and not e["choices"]]
    assert len(usage_chunks) == (1 if include_usage else 0)


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ("rate_limit=4", RateLimited),
        ("server_error", ProviderUnavailable),
        ("overloaded", ProviderUnavailable),
        ("auth_error", AuthenticationFailed),
        ("bad_request", InvalidRequest),
        ("malformed_json", ProviderUnavailable),
    ],
)
async def test_faults_before_any_output(relay, fault, error_type):
    with pytest.raises(error_type) as caught:
        await relay.complete(_body(f"gpt-4o-mini@fault={fault}"))
    assert FAKE_OPENAI_KEY not in str(caught.value)
    assert FAKE_OPENAI_KEY not in repr(caught.value)
    if error_type is RateLimited:
        assert caught.value.retry_after == 4


async def test_a_hanging_upstream_times_out(relay, fake_upstream):
    await relay.complete(_body())  # warm-up with a patient relay: the first call loads a tokenizer
    impatient = OpenAIRelay.for_provider(
        "openai", fake_upstream.provider_settings(llm_timeout_seconds=0.3)
    )
    assert impatient is not None
    with pytest.raises(ProviderTimeout):
        await impatient.complete(_body("gpt-4o-mini@fault=hang=5"))
    await impatient.aclose()


@pytest.mark.parametrize("fault", ["truncate_after=2", "error_event_after=2", "malformed_json"])
async def test_a_broken_stream_raises_after_what_arrived(relay, fault):
    stream = await relay.stream(_body(f"gpt-4o-mini@fault={fault}"))
    received: list[bytes] = []

    async def drain() -> None:
        async for chunk in stream:
            received.append(chunk)

    with pytest.raises(ProviderUnavailable):
        await drain()
    assert b"[DONE]" not in b"".join(received)


async def test_stream_errors_before_output_raise_on_open(relay):
    with pytest.raises(RateLimited):
        await relay.stream(_body("gpt-4o-mini@fault=rate_limit"))


async def test_unreachable_upstream_is_unavailable():
    relay = OpenAIRelay(
        provider="openai",
        base_url="http://127.0.0.1:1/v1",
        api_key="sk-x",
        timeout_seconds=1,
        connect_timeout_seconds=1,
    )
    with pytest.raises(ProviderUnavailable):
        await relay.complete(_body())
    await relay.aclose()


def test_only_openai_format_providers_get_a_relay(fake_upstream):
    settings = fake_upstream.provider_settings()
    assert OpenAIRelay.for_provider("anthropic", settings) is None
    assert OpenAIRelay.for_provider("mock", settings) is None
    router = OpenAIRelay.for_provider("openrouter", settings)
    assert router is not None
    assert router._headers["X-Title"] == settings.openrouter_app_name
    assert FAKE_OPENAI_KEY not in repr(OpenAIRelay.for_provider("openai", settings))


def test_relayed_usage_takes_the_cached_part_out_of_the_prompt() -> None:
    """Cache reads bill at their own (lower) rate: the relay splits them out, as the SDK
    adapters do, so the gateway's ledger prices a relayed call like a translated one."""
    payload = {
        "usage": {
            "prompt_tokens": 1000,
            "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 800},
        }
    }
    usage = usage_of(payload)
    assert usage is not None
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (200, 800, 20)
    assert usage.prompt_tokens == 1000
    assert usage_of({"usage": {"prompt_tokens": 5, "completion_tokens": 1}}) == Usage(
        input_tokens=5, output_tokens=1
    )
    assert usage_of({"no": "usage"}) is None
