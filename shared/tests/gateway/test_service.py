"""The shared gateway: both paths, failover, and the call record every call leaves."""

from __future__ import annotations

import asyncio
import json

import pytest

from genai_shared.gateway.schemas import ChatCompletionRequest
from genai_shared.gateway.service import CallRecord, ChunkWriter, Gateway, replay_chunks
from genai_shared.llm.errors import ProviderUnavailable, RateLimited
from genai_shared.llm.http_errors import ProviderDown, ProviderRateLimited
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript, MockTurn
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.relay import OpenAIRelay
from genai_shared.llm.types import ToolCall
from genai_shared.web.drain import Drain
from genai_shared.web.sse import EventStreamResponse


def _body(model: str, **extra) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": "count on me"}], **extra}
    )


@pytest.fixture
async def gateway(fake_upstream):
    settings = fake_upstream.provider_settings(llm_fallbacks=["mock/echo-1"])
    relays = {"openai": OpenAIRelay.for_provider("openai", settings)}
    gateway = Gateway(ProviderRegistry.from_settings(settings), relays)
    yield gateway
    await gateway.aclose()
    await gateway.registry.aclose()


async def _sent(response: EventStreamResponse) -> list[bytes]:
    """What ``response`` sends to a client that stays, chunk by chunk."""
    sent: list[bytes] = []

    async def receive() -> dict:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            sent.append(message["body"])

    scope = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "POST", "headers": []}
    await asyncio.wait_for(response(scope, receive, send), 10)
    return sent


def _chunks(raw: list[bytes]) -> list[dict | str]:
    out: list[dict | str] = []
    for item in raw:
        data = item.removeprefix(b"data: ").strip()
        out.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return out


class TestComplete:
    async def test_relayed(self, gateway):
        record = CallRecord()
        answer = await gateway.complete(_body("openai/gpt-4o-mini"), record)
        assert answer["model"] == "openai/gpt-4o-mini"
        assert answer["choices"][0]["message"]["content"] == "Echo: count on me"
        assert (record.provider, record.model, record.outcome) == (
            "openai",
            "gpt-4o-mini",
            "complete",
        )
        assert record.usage.input_tokens == answer["usage"]["prompt_tokens"]
        assert record.latency_s is not None

    async def test_translated(self, gateway):
        record = CallRecord()
        answer = await gateway.complete(_body("anthropic/claude-haiku-4-5"), record)
        assert answer.choices[0].message.content == "Echo: count on me"
        assert record.provider == "anthropic"
        assert record.usage.output_tokens == answer.usage.completion_tokens > 0

    async def test_relay_failure_falls_back(self, gateway):
        record = CallRecord()
        answer = await gateway.complete(_body("openai/gpt-4o-mini@fault=server_error"), record)
        assert answer.choices[0].message.content == "Echo: count on me"
        assert (record.provider, record.calls) == ("mock", 2)

    async def test_non_retriable_failure_is_raised_and_recorded(self, gateway):
        record = CallRecord()
        with pytest.raises(ProviderRateLimited):
            await Gateway(
                ProviderRegistry(
                    {"mock": MockProvider(MockScript(error=RateLimited("x", provider="mock")))}
                ),
                {},
            ).complete(_body("mock/echo-1"), record)
        assert (record.outcome, record.error_type) == ("error", "RateLimited")


class TestStream:
    @pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "mock/echo-1"])
    async def test_complete_stream_reports_once(self, gateway, model):
        done: list[CallRecord] = []

        async def on_end(record: CallRecord) -> None:
            done.append(record)

        stream = await gateway.open_stream(_body(model, stream=True), on_end=on_end)
        chunks = _chunks([c async for c in stream])
        assert chunks[-1] == "[DONE]"
        [record] = done
        assert record.outcome == "complete"
        assert record.usage_estimated is False
        assert record.usage.output_tokens > 0

    async def test_broken_stream_ends_with_error_chunk_and_estimated_usage(self, gateway):
        done: list[CallRecord] = []

        async def on_end(record: CallRecord) -> None:
            done.append(record)

        stream = await gateway.open_stream(
            _body("openai/gpt-4o-mini@fault=truncate_after=2", stream=True), on_end=on_end
        )
        chunks = _chunks([c async for c in stream])
        assert "[DONE]" not in chunks
        assert chunks[-1]["error"]["type"] == "ProviderDown"
        [record] = done
        assert (record.outcome, record.error_type) == ("error", "ProviderUnavailable")
        assert record.usage_estimated is True
        assert record.usage.input_tokens > 0

    async def test_early_failure_raises_before_any_byte(self, gateway):
        done: list[CallRecord] = []

        async def on_end(record: CallRecord) -> None:
            done.append(record)

        down = MockProvider(MockScript(error=ProviderUnavailable("down", provider="mock")))
        with pytest.raises(ProviderDown):
            await Gateway(ProviderRegistry({"mock": down}), {}).open_stream(
                _body("mock/echo-1", stream=True), on_end=on_end
            )
        [record] = done
        assert (record.outcome, record.error_type) == ("error", "ProviderUnavailable")

    async def test_a_consumer_that_leaves_is_recorded_as_cancelled(self, gateway):
        done: list[CallRecord] = []

        async def on_end(record: CallRecord) -> None:
            done.append(record)

        slow = MockProvider(MockScript(reply="a b c d e f g h", chunk_delay=0.01))
        stream = await Gateway(ProviderRegistry({"mock": slow}), {}).open_stream(
            _body("mock/echo-1", stream=True), on_end=on_end
        )
        await anext(stream)
        await anext(stream)
        await stream.aclose()
        [record] = done
        assert record.outcome == "cancelled"
        assert record.usage_estimated is True
        assert record.usage.output_tokens >= 1

    @pytest.mark.parametrize("path", ["relayed", "translated"])
    async def test_a_stream_at_the_drain_deadline_ends_with_an_error_chunk_and_is_settled(
        self, gateway, path
    ):
        """What the OpenAI SDK raises (an error chunk, no ``[DONE]``), as when the upstream
        breaks off; the call is settled once, as an error, with the text sent so far."""
        done: list[CallRecord] = []

        async def on_end(record: CallRecord) -> None:
            done.append(record)

        if path == "relayed":  # the fake upstream drips a word every 300 ms
            body = _body("openai/gpt-4o-mini@fault=slow_drip=300", stream=True)
        else:
            slow = MockProvider(MockScript(reply=" ".join(["word"] * 50), chunk_delay=0.1))
            gateway = Gateway(ProviderRegistry({"mock": slow}), {})
            body = _body("mock/echo-1", stream=True)
        stream = await gateway.open_stream(body, on_end=on_end)
        drain = Drain()
        asyncio.get_running_loop().call_later(0.5, drain.begin, 0.2)
        chunks = _chunks(await _sent(EventStreamResponse(stream, drain=drain)))
        assert "[DONE]" not in chunks
        assert chunks[-1] == {
            "error": {
                "message": "The server is restarting: retry the request.",
                "type": "ServerShuttingDown",
                "code": None,
            }
        }
        assert any(c.get("choices") and c["choices"][0]["delta"].get("content") for c in chunks)
        [record] = done
        assert (record.outcome, record.error_type) == ("error", "DrainDeadlineReached")
        assert record.text
        assert record.usage_estimated is True
        assert record.usage.input_tokens > 0

    async def test_models(self, gateway):
        ids = {m.id for m in gateway.list_models().data}
        assert {"mock/echo-1", "openai/gpt-4o-mini"} <= ids


def test_chains_are_reused_and_the_cache_is_bounded(monkeypatch):
    gateway = Gateway(ProviderRegistry({}), {})
    monkeypatch.setattr(Gateway, "CHAIN_CACHE_SIZE", 3)
    first = gateway._chain("mock/echo-1")
    assert gateway._chain("mock/echo-1") is first
    for i in range(5):
        gateway._chain(f"mock/m{i}")
    assert len(gateway._chains) == 3
    assert "mock/echo-1" not in gateway._chains


class TestWhatTheRecordKeeps:
    """Enough for a ledger row per provider call and for sending a stream again."""

    async def test_a_failed_relay_attempt_is_kept_when_the_fallback_answers(self, gateway):
        done: list[CallRecord] = []

        async def on_end(record: CallRecord) -> None:
            done.append(record)

        body = _body("openai/gpt-4o-mini@fault=server_error", stream=True)
        stream = await gateway.open_stream(body, on_end=on_end)
        assert _chunks([c async for c in stream])[-1] == "[DONE]"
        [record] = done
        assert [(a.provider, a.error_type) for a in record.failed_over] == [
            ("openai", "ProviderUnavailable")
        ]
        assert (record.provider, record.model, record.calls) == ("mock", "echo-1", 2)

    async def test_a_relayed_call_the_caller_abandons_is_recorded_as_cancelled(self, gateway):
        record = CallRecord()
        calling = asyncio.create_task(
            gateway.complete(_body("openai/gpt-4o-mini@fault=hang=30"), record)
        )
        await asyncio.sleep(0.2)
        calling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await calling
        assert (record.provider, record.outcome, record.error_type) == (
            "openai",
            "cancelled",
            "CancelledError",
        )

    async def test_a_chain_that_fails_keeps_every_attempt(self):
        down = MockProvider(MockScript(error=ProviderUnavailable("down", provider="mock")))
        registry = ProviderRegistry({"mock": down}, fallbacks=["mock/echo-2", "mock/echo-3"])
        record = CallRecord()
        with pytest.raises(ProviderDown):
            await Gateway(registry, {}).complete(_body("mock/echo-1"), record)
        assert [a.model for a in record.failed_over] == ["echo-1", "echo-2"]
        assert (record.model, record.outcome, record.calls) == ("echo-3", "error", 3)

    async def test_a_caller_gone_before_the_first_event_is_reported(self):
        done: list[CallRecord] = []

        async def on_end(record: CallRecord) -> None:
            done.append(record)

        slow = MockProvider(MockScript(latency=30))
        gateway = Gateway(ProviderRegistry({"mock": slow}), {})
        opening = asyncio.create_task(
            gateway.open_stream(_body("mock/echo-1", stream=True), on_end=on_end)
        )
        await asyncio.sleep(0.05)
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        [record] = done
        assert (record.provider, record.outcome) == ("mock", "cancelled")
        assert record.usage_estimated is True
        assert record.usage.input_tokens > 0

    @pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "mock/echo-1"])
    async def test_a_stream_can_be_sent_again_from_its_record(self, gateway, model):
        done: list[CallRecord] = []

        async def on_end(record: CallRecord) -> None:
            done.append(record)

        body = _body(model, stream=True, stream_options={"include_usage": True})
        sent = _chunks([c async for c in await gateway.open_stream(body, on_end=on_end)])
        [record] = done
        writer = ChunkWriter(model, id=record.completion_id, created=record.created)
        assert record.finish_reason is not None
        again = _chunks(
            replay_chunks(writer.completion(record.text, record.finish_reason, record.usage), True)
        )
        content = [c for c in sent[:-1] if c["choices"]]
        assert {c["id"] for c in again[:-1]} == {c["id"] for c in sent[:-1]}
        assert (
            "".join(c["choices"][0]["delta"].get("content") or "" for c in content)
            == (again[1]["choices"][0]["delta"]["content"])
        )
        assert again[-2]["usage"] == sent[-2]["usage"]


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({"max_tokens": 7}, "max_completion_tokens"),
        ({"max_completion_tokens": 7}, "max_completion_tokens"),
    ],
)
async def test_the_token_cap_reaches_openai_under_the_name_it_reads(
    gateway, fake_upstream_requests, sent, field
):
    await gateway.complete(_body("openai/gpt-4o-mini", **sent))
    upstream = fake_upstream_requests[-1].body
    assert upstream[field] == 7
    assert "max_tokens" not in upstream


async def test_other_openai_format_upstreams_get_max_tokens(fake_upstream, fake_upstream_requests):
    settings = fake_upstream.provider_settings()
    relay = OpenAIRelay.for_provider("openrouter", settings)
    assert relay is not None
    gateway = Gateway(ProviderRegistry.from_settings(settings), {"openrouter": relay})
    try:
        await gateway.complete(_body("openrouter/openai/gpt-4o", max_completion_tokens=7))
    finally:
        await gateway.aclose()
    upstream = fake_upstream_requests[-1].body
    assert upstream["max_tokens"] == 7
    assert "max_completion_tokens" not in upstream


async def test_a_streamed_tool_call_reaches_the_caller_as_openai_chunks():
    """A translated stream (not relayed) carries the tool call's fragments in OpenAI's
    chunk format, so the official SDK's stream assembles the same call."""
    call = ToolCall(id="call_1", name="calculator", arguments='{"expression": "6 * 7"}')
    mock = MockProvider(MockScript(turns=[MockTurn(tool_calls=[call])]))
    registry = ProviderRegistry({"mock": mock})
    gateway = Gateway(registry, {})
    body = _body(
        "mock/echo-1",
        stream=True,
        tools=[{"type": "function", "function": {"name": "calculator", "parameters": {}}}],
    )
    sent = _chunks([c async for c in await gateway.open_stream(body)])
    fragments = [
        tool_call
        for chunk in sent
        if isinstance(chunk, dict)
        for tool_call in chunk["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert fragments, "no tool-call chunk was sent"
    assert fragments[0]["id"] == "call_1"
    assert fragments[0]["function"]["name"] == "calculator"
    assert "".join(f["function"]["arguments"] for f in fragments) == call.arguments
    finishes = [c["choices"][0]["finish_reason"] for c in sent if isinstance(c, dict)]
    assert "tool_calls" in finishes
    assert sent[-1] == "[DONE]"
