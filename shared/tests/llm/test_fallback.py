"""The fallback chain: which errors move on, how long it waits, what it reports."""

from __future__ import annotations

import logging
import random

import pytest

from genai_shared.llm.calls import CallRecord
from genai_shared.llm.errors import (
    AuthenticationFailed,
    ContentFiltered,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from genai_shared.llm.fallback import FallbackChain, Target
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.types import ChatMessage, ChatRequest, StreamEnd, TextDelta
from genai_shared.testing.fake_upstream_fixtures import Drain

REQUEST = ChatRequest(model="ignored", messages=[ChatMessage(role="user", content="hello there")])


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def failing(error: ProviderError, **script: object) -> MockProvider:
    return MockProvider(MockScript(error=error, **script))  # type: ignore[arg-type]


def chain(*targets: Target, sleep: Sleeps | None = None, **options: object) -> FallbackChain:
    return FallbackChain(
        list(targets),
        sleep=sleep or Sleeps(),
        rng=random.Random(0),
        **options,  # type: ignore[arg-type]
    )


class TestComplete:
    async def test_first_target_answers(self) -> None:
        result = await chain(Target(MockProvider(), "echo-1")).complete(REQUEST)

        assert result.succeeded_index == 0
        assert result.response.model == "echo-1"  # the target's model, not the request's
        assert [a.ok for a in result.attempts] == [True]

    @pytest.mark.parametrize(
        "error",
        [
            RateLimited("busy", provider="a"),
            ProviderTimeout("slow", provider="a"),
            ProviderUnavailable("down", provider="a"),
        ],
    )
    async def test_retriable_errors_move_on(self, error: ProviderError) -> None:
        primary = failing(error)
        backup = MockProvider()

        result = await chain(Target(primary, "a-1"), Target(backup, "b-1")).complete(REQUEST)

        assert result.succeeded_index == 1
        assert result.response.model == "b-1"
        assert [(a.model, a.error_type) for a in result.attempts] == [
            ("a-1", type(error).__name__),
            ("b-1", None),
        ]

    @pytest.mark.parametrize(
        "error",
        [
            InvalidRequest("bad", provider="a"),
            AuthenticationFailed("key", provider="a"),
            ContentFiltered("no", provider="a"),
        ],
    )
    async def test_non_retriable_errors_stop_the_chain(self, error: ProviderError) -> None:
        backup = MockProvider()

        with pytest.raises(type(error)):
            await chain(Target(failing(error), "a-1"), Target(backup, "b-1")).complete(REQUEST)

        assert backup.calls == 0

    async def test_all_fail_raises_the_last_error(self) -> None:
        first = failing(ProviderUnavailable("down", provider="a"))
        second = failing(ProviderTimeout("slow", provider="b"))

        with pytest.raises(ProviderTimeout):
            await chain(Target(first, "a"), Target(second, "b")).complete(REQUEST)

    async def test_retry_after_is_honoured_on_the_same_provider(self) -> None:
        provider = failing(RateLimited("busy", provider="a", retry_after=1.5), fail_times=1)
        sleeps = Sleeps()

        result = await chain(Target(provider, "m"), Target(provider, "m"), sleep=sleeps).complete(
            REQUEST
        )

        assert sleeps.calls == [1.5]
        assert result.succeeded_index == 1
        assert result.attempts[1].waited_s == 1.5

    async def test_no_wait_when_switching_provider(self) -> None:
        sleeps = Sleeps()

        await chain(
            Target(failing(RateLimited("busy", provider="a", retry_after=30)), "m"),
            Target(MockProvider(), "m"),
            sleep=sleeps,
        ).complete(REQUEST)

        assert sleeps.calls == []

    async def test_backoff_with_jitter_on_the_same_provider(self) -> None:
        provider = failing(ProviderUnavailable("down", provider="a"), fail_times=2)
        sleeps = Sleeps()

        await chain(
            Target(provider, "m"),
            Target(provider, "m"),
            Target(provider, "m"),
            sleep=sleeps,
            backoff_base=1.0,
        ).complete(REQUEST)

        assert len(sleeps.calls) == 2
        assert 0.5 <= sleeps.calls[0] <= 1.0
        assert 1.0 <= sleeps.calls[1] <= 2.0

    async def test_every_attempt_is_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="genai_shared.llm.fallback")

        await chain(
            Target(failing(ProviderUnavailable("down", provider="a")), "a-1"),
            Target(MockProvider(), "b-1"),
        ).complete(REQUEST)

        records = [r for r in caplog.records if r.name == "genai_shared.llm.fallback"]
        assert [(r.levelname, r.llm_model, r.llm_error_type) for r in records] == [  # type: ignore[attr-defined]
            ("WARNING", "a-1", "ProviderUnavailable"),
            ("INFO", "b-1", None),
        ]
        assert all(isinstance(r.llm_duration_s, float) for r in records)  # type: ignore[attr-defined]
        assert "mock/a-1" in records[0].getMessage()

    def test_needs_a_target(self) -> None:
        with pytest.raises(ValueError, match="at least one"):
            FallbackChain([])


class TestStream:
    async def test_falls_back_before_the_first_delta(self) -> None:
        primary = MockProvider(MockScript(error_after_chunks=0))
        stream = chain(Target(primary, "a"), Target(MockProvider(), "b")).stream(REQUEST)

        events = [event async for event in stream]

        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Echo: hello there"
        assert isinstance(events[-1], StreamEnd)
        assert events[-1].model == "b"
        assert stream.succeeded_index == 1
        assert [a.error_type for a in stream.attempts] == ["ProviderUnavailable", None]

    async def test_no_fallback_after_a_delta(self, drain: Drain) -> None:
        primary = MockProvider(MockScript(error_after_chunks=1))
        backup = MockProvider()
        stream = chain(Target(primary, "a"), Target(backup, "b")).stream(REQUEST)

        result = await drain(stream)

        assert isinstance(result.error, ProviderUnavailable)
        assert result.texts == ["Echo: "]
        assert backup.calls == 0
        assert stream.succeeded_index is None

    async def test_non_retriable_error_before_output_is_raised(self, drain: Drain) -> None:
        backup = MockProvider()
        stream = chain(
            Target(failing(AuthenticationFailed("key", provider="a")), "a"), Target(backup, "b")
        ).stream(REQUEST)

        result = await drain(stream)

        assert isinstance(result.error, AuthenticationFailed)
        assert backup.calls == 0

    async def test_rate_limit_wait_applies_to_streams(self) -> None:
        provider = failing(RateLimited("busy", provider="a", retry_after=0.5), fail_times=1)
        sleeps = Sleeps()
        stream = chain(Target(provider, "m"), Target(provider, "m"), sleep=sleeps).stream(REQUEST)

        _ = [event async for event in stream]

        assert sleeps.calls == [0.5]
        assert stream.succeeded_index == 1

    async def test_closing_early_closes_the_inner_stream(self) -> None:
        stream = chain(Target(MockProvider(), "a")).stream(REQUEST)

        assert isinstance(await anext(stream), TextDelta)
        await stream.aclose()

        with pytest.raises(StopAsyncIteration):
            await anext(stream)


def too_busy(retry_after: float) -> MockProvider:
    """A provider that answers every call with a 429 and this Retry-After."""
    return failing(RateLimited("busy", provider="a", retry_after=retry_after))


class TestRetryAfterOverTheCap:
    """A Retry-After longer than `max_retry_wait` never brings an early retry of that provider."""

    async def test_skips_the_providers_other_targets(self) -> None:
        busy, backup, sleeps = too_busy(30), MockProvider(), Sleeps()
        record = CallRecord()

        result = await chain(
            Target(busy, "a-1"),
            Target(busy, "a-2"),
            Target(backup, "b-1"),
            sleep=sleeps,
        ).complete(REQUEST, record)
        seen = record.attempts

        assert result.response.model == "b-1"
        assert (busy.calls, backup.calls) == (1, 1)
        assert sleeps.calls == []
        assert [(a.model, a.error_type, a.waited_s) for a in result.attempts] == [
            ("a-1", "RateLimited", 0.0),
            ("b-1", None, 0.0),
        ]
        assert seen == result.attempts  # a skipped target is no attempt
        assert [a.target_index for a in result.attempts] == [0, 2]
        assert result.succeeded_index == 2

    async def test_no_other_provider_raises_the_429_as_it_came(self) -> None:
        busy, sleeps = too_busy(30), Sleeps()
        error = busy.script.error

        with pytest.raises(RateLimited) as raised:
            await chain(Target(busy, "a-1"), Target(busy, "a-2"), sleep=sleeps).complete(REQUEST)

        assert raised.value is error
        assert raised.value.retry_after == 30
        assert busy.calls == 1
        assert sleeps.calls == []

    async def test_later_targets_of_the_provider_are_skipped_too(self) -> None:
        busy, down = too_busy(30), failing(ProviderUnavailable("down", provider="b"))
        record = CallRecord()

        with pytest.raises(ProviderUnavailable):
            await chain(Target(busy, "a-1"), Target(down, "b-1"), Target(busy, "a-2")).complete(
                REQUEST, record
            )
        attempts = record.attempts

        assert (busy.calls, down.calls) == (1, 1)
        assert [a.model for a in attempts] == ["a-1", "b-1"]

    async def test_retry_after_within_the_cap_still_waits_and_retries(self) -> None:
        provider = failing(RateLimited("busy", provider="a", retry_after=2), fail_times=1)
        backup, sleeps = MockProvider(), Sleeps()

        result = await chain(
            Target(provider, "a-1"), Target(provider, "a-2"), Target(backup, "b-1"), sleep=sleeps
        ).complete(REQUEST)

        assert sleeps.calls == [2]
        assert result.response.model == "a-2"
        assert (provider.calls, backup.calls) == (2, 0)
        assert result.succeeded_index == 1

    async def test_retry_after_equal_to_the_cap_is_waited(self) -> None:
        provider = failing(RateLimited("busy", provider="a", retry_after=5), fail_times=1)
        sleeps = Sleeps()

        await chain(
            Target(provider, "a-1"), Target(provider, "a-2"), sleep=sleeps, max_retry_wait=5
        ).complete(REQUEST)

        assert sleeps.calls == [5]

    async def test_stream_skips_to_another_provider(self) -> None:
        busy, backup, sleeps = too_busy(30), MockProvider(), Sleeps()
        record = CallRecord()
        stream = chain(
            Target(busy, "a-1"),
            Target(busy, "a-2"),
            Target(backup, "b-1"),
            sleep=sleeps,
        ).stream(REQUEST, record)
        seen = record.attempts

        events = [event async for event in stream]

        assert isinstance(events[-1], StreamEnd)
        assert events[-1].model == "b-1"
        assert (busy.calls, backup.calls) == (1, 1)
        assert sleeps.calls == []
        assert [(a.model, a.error_type) for a in stream.attempts] == [
            ("a-1", "RateLimited"),
            ("b-1", None),
        ]
        assert seen == stream.attempts
        assert (stream.succeeded_index, stream.target_index) == (2, 2)

    async def test_stream_with_no_other_provider_raises_the_429(self, drain: Drain) -> None:
        busy, sleeps = too_busy(30), Sleeps()
        stream = chain(Target(busy, "a-1"), Target(busy, "a-2"), sleep=sleeps).stream(REQUEST)

        result = await drain(stream)

        assert result.error is busy.script.error
        assert isinstance(result.error, RateLimited)
        assert result.error.retry_after == 30
        assert busy.calls == 1
        assert sleeps.calls == []
        assert stream.succeeded_index is None

    async def test_stream_within_the_cap_waits_and_retries(self) -> None:
        provider = failing(RateLimited("busy", provider="a", retry_after=2), fail_times=1)
        backup, sleeps = MockProvider(), Sleeps()
        stream = chain(
            Target(provider, "a-1"), Target(provider, "a-2"), Target(backup, "b-1"), sleep=sleeps
        ).stream(REQUEST)

        events = [event async for event in stream]

        assert sleeps.calls == [2]
        assert isinstance(events[-1], StreamEnd)
        assert events[-1].model == "a-2"
        assert backup.calls == 0


async def test_the_record_keeps_every_attempt_even_when_the_chain_fails() -> None:
    record = CallRecord()
    failing = MockProvider(MockScript(error=ProviderUnavailable("down", provider="mock")))
    chain = FallbackChain([Target(failing, "echo-1"), Target(failing, "echo-1")], sleep=_no_sleep)
    request = ChatRequest(model="echo-1", messages=[ChatMessage(role="user", content="hi")])
    with pytest.raises(ProviderUnavailable):
        await chain.complete(request, record)
    seen = record.attempts
    assert [a.error_type for a in seen] == ["ProviderUnavailable", "ProviderUnavailable"]


async def _no_sleep(_seconds: float) -> None:
    return None
