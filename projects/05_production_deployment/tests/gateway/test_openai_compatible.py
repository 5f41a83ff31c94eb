"""/v1/chat/completions and /v1/models, driven by the official ``openai`` SDK.

The shared contract's cases run with the SDK's ``api_key`` set to an API key of this
service. On top of them: a bad key is refused, and every call (relayed, retried or fallen
back) is metered in the usage ledger.
"""

from __future__ import annotations

import openai
import pytest
from sqlalchemy import select

from genai_shared.db.session import Database
from genai_shared.testing.contracts import gateway
from genai_shared.testing.contracts.gateway import ECHO, MESSAGES, Gateway, sdk_client
from production_deployment.usage.models import UsageRecord


async def _ledger(gw: Gateway) -> list[UsageRecord]:
    db = Database(gw.database_url)
    try:
        async with db.sessionmaker() as session:
            return list(await session.scalars(select(UsageRecord)))
    finally:
        await db.dispose()


class TestOnEmbeddedDefaults(gateway.OnEmbeddedDefaultsContract):
    """The offline mock answers a caller with a key; the call is metered like any other."""

    async def test_the_call_is_in_the_ledger(self, default_gateway: Gateway) -> None:
        async with sdk_client(default_gateway) as client:
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

    async def test_a_streamed_retry_with_the_same_key_is_replayed(
        self, default_gateway: Gateway
    ) -> None:
        """What a client that lost the connection does: the same request, the same key."""
        key = {"Idempotency-Key": "sdk-stream-retry"}
        calls_before = len(await _ledger(default_gateway))
        async with sdk_client(default_gateway) as client:
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
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ECHO
        assert again[-1].usage == first[-1].usage
        assert {c.id for c in again} == {c.id for c in first}
        assert len(await _ledger(default_gateway)) == calls_before + 1  # one provider call

    @pytest.mark.parametrize("api_key", ["not-a-key", "rag_000000000000_" + "x" * 43])
    async def test_a_bad_key_is_401(self, default_gateway: Gateway, api_key: str) -> None:
        async with sdk_client(default_gateway, api_key) as client:
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(model="mock/echo-1", messages=MESSAGES)
            with pytest.raises(openai.AuthenticationError):
                await client.models.list()


class TestThroughTheFakeUpstream(gateway.ThroughTheFakeUpstreamContract):
    """OpenAI, Anthropic and OpenRouter, each through its real SDK to the fake upstream."""


async def _call_and_rows(
    gateway: Gateway, model: str, stream: bool
) -> tuple[str, list[UsageRecord]]:
    """One call through the SDK, whole or streamed: its text and its ledger rows."""
    async with sdk_client(gateway) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=MESSAGES, stream=stream
        )
        parsed = raw.parse()
        if stream:
            text = "".join([c.choices[0].delta.content or "" async for c in parsed if c.choices])
        else:
            text = parsed.choices[0].message.content or ""
    request_id = raw.headers["x-request-id"]
    return text, [r for r in await _ledger(gateway) if r.request_id == request_id]


class TestMetering:
    """Every provider call of a gateway call is a ledger row, relayed ones included."""

    @pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
    async def test_a_relayed_call_is_settled_with_the_upstreams_usage(
        self, upstream_gateway: Gateway, stream: bool
    ) -> None:
        text, rows = await _call_and_rows(upstream_gateway, "openai/gpt-4o-mini", stream)
        assert text == ECHO
        assert [(r.provider, r.model, r.status, r.attempt) for r in rows] == [
            ("openai", "gpt-4o-mini", "complete", 0)
        ]
        assert rows[0].usage_estimated is False
        assert rows[0].input_tokens > 0
        assert rows[0].output_tokens > 0
        assert rows[0].cost_micro_usd > 0

    @pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
    async def test_a_failed_relay_attempt_and_its_fallback_are_two_rows(
        self, fallback_gateway: Gateway, stream: bool
    ) -> None:
        _, rows = await _call_and_rows(
            fallback_gateway, "openai/gpt-4o-mini@fault=server_error", stream
        )
        rows.sort(key=lambda r: r.attempt)
        assert [(r.provider, r.status, r.error_type, r.attempt) for r in rows] == [
            ("openai", "error", "ProviderUnavailable", 0),
            ("mock", "complete", None, 1),
        ]
        assert rows[0].cost_micro_usd == 0
