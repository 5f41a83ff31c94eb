"""Pytest fixtures for the fake OpenAI + Anthropic upstream.

Loaded by the genai_shared plugin, or explicitly with
`pytest -p genai_shared.testing.fake_upstream_fixtures`.

    async def test_reply(fake_upstream, fake_upstream_requests):
        client = openai.AsyncOpenAI(base_url=fake_upstream.openai_base_url, api_key="sk-test")
        ...
        assert fake_upstream_requests[0].path == "/v1/chat/completions"

    async def test_stream(drain: Drain) -> None:
        result = await drain(provider.stream(request))
        assert result.texts == ["Echo: ", "hi"] and result.error is None

    async def test_agent(fake_upstream_script: RunningFakeUpstream) -> None:
        fake_upstream_script.script_tool_calls(ScriptedToolCall("calculator", {"x": "2+2"}))
        ...  # the next chat request, whoever makes it, gets that call
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from genai_shared.llm.errors import ProviderError
from genai_shared.llm.types import StreamEnd, StreamEvent, TextDelta, ToolCall, ToolCallDelta
from genai_shared.testing.fake_upstream import (
    RecordedRequest,
    RunningFakeUpstream,
    serve_in_thread,
)


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[RunningFakeUpstream]:
    """One fake upstream for the whole session, on a free loopback port."""
    with serve_in_thread() as upstream:
        yield upstream


@pytest.fixture
def fake_upstream_requests(fake_upstream: RunningFakeUpstream) -> list[RecordedRequest]:
    """The fake upstream's request log, emptied before this test."""
    fake_upstream.clear()
    return fake_upstream.requests


@pytest.fixture
def fake_upstream_script(fake_upstream: RunningFakeUpstream) -> Iterator[RunningFakeUpstream]:
    """The fake upstream, its scripted replies dropped before and after this test, so a
    script a test left unused cannot answer another test's request."""
    fake_upstream.drop_scripted_replies()
    yield fake_upstream
    fake_upstream.drop_scripted_replies()


@dataclass
class Drained:
    """What a stream produced: its text and tool-call deltas, its end event(s), or the
    error that cut it."""

    texts: list[str] = field(default_factory=list)
    tool_deltas: list[ToolCallDelta] = field(default_factory=list)
    ends: list[StreamEnd] = field(default_factory=list)
    error: ProviderError | None = None

    @property
    def text(self) -> str:
        return "".join(self.texts)

    @property
    def streamed_tool_calls(self) -> list[ToolCall]:
        """The calls the deltas add up to (compare with ``end.tool_calls``)."""
        calls: dict[int, dict[str, str]] = {}
        for delta in self.tool_deltas:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] = delta.name or call["name"]
            call["arguments"] += delta.arguments
        return [
            ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"] or "{}")
            for _, c in sorted(calls.items())
        ]

    @property
    def end(self) -> StreamEnd:
        """The one StreamEnd a successful stream must finish with."""
        assert len(self.ends) == 1, f"expected exactly one StreamEnd, got {self.ends}"
        return self.ends[0]


Drain = Callable[[AsyncIterator[StreamEvent]], Awaitable[Drained]]


async def drain_stream(events: AsyncIterator[StreamEvent]) -> Drained:
    """Consume a provider stream, checking nothing follows its StreamEnd; keep its error."""
    drained = Drained()
    try:
        async for event in events:
            assert not drained.ends, "no event may follow the StreamEnd"
            if isinstance(event, TextDelta):
                drained.texts.append(event.text)
            elif isinstance(event, ToolCallDelta):
                drained.tool_deltas.append(event)
            else:
                drained.ends.append(event)
    except ProviderError as error:
        drained.error = error
    return drained


@pytest.fixture
def drain() -> Drain:
    """`result = await drain(provider.stream(request))`."""
    return drain_stream
