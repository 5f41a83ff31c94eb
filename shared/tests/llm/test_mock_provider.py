"""The offline mock: deterministic replies, real token counts, scripted failures."""

from __future__ import annotations

import pytest

from genai_shared.llm.errors import ProviderUnavailable, RateLimited
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.tokens import count_messages, count_text
from genai_shared.llm.types import ChatMessage, ChatRequest, StreamEnd, TextDelta
from genai_shared.testing.fake_upstream_fixtures import Drain


def ask(text: str = "hello there world", **kwargs: object) -> ChatRequest:
    return ChatRequest(
        model="echo-1",
        messages=[ChatMessage(role="user", content=text)],
        **kwargs,  # type: ignore[arg-type]
    )


class TestReplies:
    async def test_echo_with_counted_usage(self) -> None:
        request = ask()

        response = await MockProvider().complete(request)

        assert response.content == "Echo: hello there world"
        assert response.finish_reason == "stop"
        assert response.provider == "mock"
        assert response.model == "echo-1"
        assert response.usage.input_tokens == count_messages(request.messages, "echo-1")
        assert response.usage.output_tokens == count_text("Echo: hello there world")

    async def test_deterministic(self) -> None:
        first = await MockProvider().complete(ask())
        second = await MockProvider().complete(ask())

        assert first == second
        assert first.request_id
        assert first.request_id.startswith("mock-")

    async def test_echoes_the_last_user_message(self) -> None:
        request = ChatRequest(
            model="echo-1",
            messages=[
                ChatMessage(role="system", content="Be brief."),
                ChatMessage(role="user", content="first"),
                ChatMessage(role="assistant", content="Echo: first"),
                ChatMessage(role="user", content="second"),
            ],
        )

        assert (await MockProvider().complete(request)).content == "Echo: second"

    async def test_max_tokens_and_stop(self) -> None:
        cut = await MockProvider().complete(ask(max_tokens=2))
        stopped = await MockProvider().complete(ask(stop=[" there"]))

        assert (cut.finish_reason, cut.usage.output_tokens) == ("length", 2)
        assert (stopped.content, stopped.finish_reason) == ("Echo: hello", "stop")

    async def test_stream_matches_complete(self) -> None:
        provider = MockProvider()

        events = [event async for event in provider.stream(ask())]
        response = await provider.complete(ask())

        deltas = [e.text for e in events if isinstance(e, TextDelta)]
        assert deltas == ["Echo: ", "hello ", "there ", "world"]
        end = events[-1]
        assert isinstance(end, StreamEnd)
        assert (end.usage, end.request_id) == (response.usage, response.request_id)


class TestScripts:
    async def test_error_every_call(self) -> None:
        provider = MockProvider(
            MockScript(error=RateLimited("slow down", provider="mock", retry_after=1))
        )

        for _ in range(2):
            with pytest.raises(RateLimited):
                await provider.complete(ask())
        assert provider.calls == 2

    async def test_fail_first_calls_only(self) -> None:
        provider = MockProvider(
            MockScript(error=ProviderUnavailable("down", provider="mock"), fail_times=1)
        )

        with pytest.raises(ProviderUnavailable):
            await provider.complete(ask())
        assert (await provider.complete(ask())).content.startswith("Echo:")

    async def test_stream_breaks_after_chunks(self, drain: Drain) -> None:
        result = await drain(MockProvider(MockScript(error_after_chunks=2)).stream(ask()))

        assert isinstance(result.error, ProviderUnavailable)
        assert result.texts == ["Echo: ", "hello "]

    async def test_stream_error_before_output(self, drain: Drain) -> None:
        provider = MockProvider(MockScript(error=RateLimited("busy", provider="mock")))

        result = await drain(provider.stream(ask()))

        assert isinstance(result.error, RateLimited)
        assert (result.texts, result.ends) == ([], [])

    async def test_latency_and_chunk_delay_use_the_injected_sleep(self) -> None:
        sleeps: list[float] = []

        async def record(seconds: float) -> None:
            sleeps.append(seconds)

        provider = MockProvider(MockScript(latency=0.5, chunk_delay=0.1), sleep=record)
        _ = [event async for event in provider.stream(ask())]

        assert sleeps == [0.5, 0.1, 0.1, 0.1]

    async def test_fixed_reply(self) -> None:
        provider = MockProvider(MockScript(reply="Fixed."))

        assert (await provider.complete(ask())).content == "Fixed."


async def test_a_scripted_error_does_not_pile_up_tracebacks():
    """The script's exception is raised on every call; its traceback is only the last one."""
    error = ProviderUnavailable("down", provider="mock")
    provider = MockProvider(MockScript(error=error))
    depths = []
    for _ in range(3):
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.complete(ask())
        assert caught.value is error
        depth, tb = 0, caught.value.__traceback__
        while tb is not None:
            depth, tb = depth + 1, tb.tb_next
        depths.append(depth)
    assert depths[0] == depths[1] == depths[2]
