"""A streamed chat turn: the events sent, and ``on_end`` called once however it ends."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from genai_shared.llm.calls import CallRecord
from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.fallback import FallbackChain, Target
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.tokens import count_messages
from genai_shared.llm.turn_stream import stream_turn
from genai_shared.llm.types import ChatMessage, ChatRequest

START = {"user_message_id": "u1", "message_id": "m1"}
REQUEST = ChatRequest(model="echo-1", messages=[ChatMessage(role="user", content="one two")])


def _events(chunks: list[bytes]) -> list[tuple[str, dict]]:
    out = []
    for chunk in chunks:
        name, data = chunk.decode().strip().split("\n")
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def _ended(record: CallRecord) -> SimpleNamespace:
    """What the record said when ``on_end`` ran (the record itself lives on)."""
    return SimpleNamespace(
        status=record.outcome,
        text=record.text,
        usage=record.usage,
        usage_estimated=record.usage_estimated,
        finish_reason=record.finish_reason,
        error_type=record.error_type,
        # The provider's stream did not end by itself: the target was still being asked.
        interrupted=record.asking is not None,
    )


STORED = SimpleNamespace(id="m1", cost_usd=0, provider="mock", model="echo-1")


async def _turn(script: MockScript):
    ends: list[SimpleNamespace] = []

    async def on_end(record: CallRecord) -> SimpleNamespace:
        ends.append(_ended(record))
        return STORED

    stream = FallbackChain([Target(MockProvider(script), "echo-1")]).stream(REQUEST)
    first = await anext(stream)
    events = stream_turn(stream, first, start=START, on_end=on_end, prompt=REQUEST.messages)
    return events, ends


async def test_a_complete_turn():
    events, ends = await _turn(MockScript(reply="a b c"))
    sent = _events([chunk async for chunk in events])
    assert [name for name, _ in sent] == ["start", "delta", "delta", "delta", "done"]
    assert sent[0][1] == START
    [end] = ends
    assert (end.status, end.text, end.usage_estimated, end.interrupted) == (
        "complete",
        "a b c",
        False,
        False,
    )
    assert sent[-1][1]["finish_reason"] == end.finish_reason == "stop"


async def test_a_provider_failure_mid_stream_is_an_error_event():
    events, ends = await _turn(
        MockScript(
            reply="a b c d", error_after_chunks=2, error=ProviderUnavailable("x", provider="mock")
        )
    )
    sent = _events([chunk async for chunk in events])
    assert [name for name, _ in sent][-1] == "error"
    assert sent[-1][1]["partial_content"] == "a b "
    assert sent[-1][1]["message_id"] == "m1"
    [end] = ends
    assert (end.status, end.error_type, end.interrupted) == ("error", "ProviderUnavailable", False)
    # Counted here, from the prompt: the provider never sent usage.
    assert end.usage.input_tokens == count_messages(REQUEST.messages) > 0


async def test_a_client_that_leaves_is_settled_once_as_cancelled():
    events, ends = await _turn(MockScript(reply="a b c d e f"))
    await anext(events)  # start
    await anext(events)  # first delta
    await events.aclose()
    [end] = ends
    assert (end.status, end.text, end.interrupted) == ("cancelled", "a ", True)
    assert end.usage_estimated is True


async def test_a_failure_here_is_settled_then_raised():
    async def broken_on_end(record: CallRecord) -> SimpleNamespace:
        ends.append(_ended(record))
        if record.outcome == "complete":
            raise RuntimeError("database gone")
        return STORED

    ends: list[SimpleNamespace] = []
    stream = FallbackChain([Target(MockProvider(MockScript(reply="a")), "echo-1")]).stream(REQUEST)
    events = stream_turn(
        stream, await anext(stream), start=START, on_end=broken_on_end, prompt=REQUEST.messages
    )
    with pytest.raises(RuntimeError):
        _ = [chunk async for chunk in events]
    assert [end.status for end in ends] == ["complete"]  # settled once, not again as error
