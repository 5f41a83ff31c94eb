"""The drain deadline, where every stream meets it: ``EventStreamResponse``.

A stream still running at the deadline ends with a last event and its producer's cleanup
run: the producer's own event when it waits in ``drain_deadline()`` (a chat turn, the
gateway, the agent), else a plain ``error`` event after the producer was cancelled.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from genai_shared.llm.calls import CallRecord
from genai_shared.llm.fallback import FallbackChain, Target
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.turn_stream import stream_turn
from genai_shared.llm.types import ChatMessage, ChatRequest
from genai_shared.web.drain import Drain, DrainDeadlineReached, drain_deadline
from genai_shared.web.sse import SERVER_SHUTTING_DOWN, EventStreamResponse, sse_event

SCOPE = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "GET", "headers": []}


async def _served(response: EventStreamResponse, drain: Drain, *, after: float) -> list[bytes]:
    """The body ``response`` sends when the drain begins ``after`` seconds in, with a
    deadline 0.2 s later; the client never leaves."""

    async def receive() -> dict:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}  # pragma: no cover

    sent: list[bytes] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            sent.append(message.get("body", b""))

    asyncio.get_running_loop().call_later(after, drain.begin, 0.2)
    await asyncio.wait_for(response(SCOPE, receive, send), 10)
    return [chunk for chunk in sent if chunk]


def _ticks(cleanup: list[str]) -> AsyncIterator[bytes]:
    """A producer that knows nothing of draining: a tick every 50 ms for 10 s."""

    async def ticks() -> AsyncIterator[bytes]:
        try:
            for i in range(200):
                yield sse_event({"i": i})
                await asyncio.sleep(0.05)
        finally:
            cleanup.append("closed")

    return ticks()


class TestEventStreamResponse:
    async def test_a_producer_that_ignores_the_drain_is_cut_with_an_error_event(self):
        drain, cleanup = Drain(), []
        sent = await _served(EventStreamResponse(_ticks(cleanup), drain=drain), drain, after=0.2)
        assert sent[-1] == SERVER_SHUTTING_DOWN
        assert 3 <= len(sent) < 20  # ticks until the deadline (0.4 s), then the error
        assert cleanup == ["closed"]

    async def test_a_producer_waiting_in_drain_deadline_ends_the_stream_itself(self):
        drain, steps = Drain(), []

        async def producer() -> AsyncIterator[bytes]:
            try:
                yield sse_event({"i": 0})
                async with drain_deadline():
                    await asyncio.sleep(10)
            except DrainDeadlineReached:
                steps.append("told")
                await asyncio.sleep(0.01)  # its cleanup may wait: nothing cuts it
                yield sse_event({"type": "Mine"}, event="error")
            finally:
                await asyncio.sleep(0.3)  # after its last event, past the deadline too
                steps.append("closed")

        sent = await _served(EventStreamResponse(producer(), drain=drain), drain, after=0.1)
        assert sent == [sse_event({"i": 0}), sse_event({"type": "Mine"}, event="error")]
        assert steps == ["told", "closed"]

    async def test_the_apps_drain_is_used_when_none_is_given(self):
        app = FastAPI()
        app.state.drain = Drain()
        cleanup: list[str] = []

        @app.get("/ticks")
        async def ticks() -> EventStreamResponse:
            return EventStreamResponse(_ticks(cleanup))

        asyncio.get_running_loop().call_later(0.2, app.state.drain.begin, 0.2)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            response = await asyncio.wait_for(client.get("/ticks"), 10)
        assert response.content.endswith(SERVER_SHUTTING_DOWN)
        assert cleanup == ["closed"]

    async def test_without_a_drain_nothing_changes(self):
        async def two() -> AsyncIterator[bytes]:
            yield b"data: 1\n\n"
            yield b"data: 2\n\n"

        drain = Drain()
        sent = await _served(EventStreamResponse(two()), drain, after=0)
        assert sent == [b"data: 1\n\n", b"data: 2\n\n"]


class TestBounded:
    async def test_alone_it_raises_at_the_deadline(self):
        drain = Drain()
        drain.begin(0.05)
        with pytest.raises(DrainDeadlineReached):
            async with drain.bounded():
                await asyncio.sleep(10)

    async def test_nested_the_deadline_is_raised_in_the_innermost_block(self):
        drain, seen = Drain(), []
        asyncio.get_running_loop().call_later(0.05, drain.begin, 0)
        async with drain.bounded() as outer:
            try:
                async with drain.bounded():
                    await asyncio.sleep(10)
            except DrainDeadlineReached:
                seen.append("inner")
                await asyncio.sleep(0.05)  # not cut again
                seen.append("went on")
        assert seen == ["inner", "went on"]
        assert outer.expired()

    async def test_a_task_started_inside_has_its_own_wait(self):
        drain = Drain()

        async def child() -> str:
            try:
                async with drain.bounded():
                    await asyncio.sleep(10)
            except DrainDeadlineReached:
                return "child told"
            return "not told"  # pragma: no cover

        async with drain.bounded():  # the child's context holds this wait, not its task
            task = asyncio.create_task(child())
            await asyncio.sleep(0)
        drain.begin(0.05)
        assert await task == "child told"

    async def test_drain_deadline_outside_a_wait_does_nothing(self):
        async with drain_deadline():
            await asyncio.sleep(0)


# --- a chat turn (stream_turn) through the response ------------------------------------------

REQUEST = ChatRequest(model="echo-1", messages=[ChatMessage(role="user", content="hi")])
STORED = SimpleNamespace(id="m1", cost_usd=0, provider="mock", model="echo-1")


@pytest.mark.parametrize("explicit", [False, True], ids=["the-responses", "its-own-too"])
async def test_a_chat_turn_at_the_deadline_ends_with_its_own_error_and_is_stored(explicit):
    """Projects 02-04 give ``stream_turn`` no drain (the response's deadline holds), 05
    gives the app's own: either way the turn ends itself, its partial reply stored."""
    drain, ends = Drain(), []

    async def on_end(record: CallRecord) -> SimpleNamespace:
        ends.append((record.outcome, record.error_type, record.text))
        return STORED

    slow = MockProvider(MockScript(reply=" ".join(["word"] * 100), chunk_delay=0.05))
    stream = FallbackChain([Target(slow, "echo-1")]).stream(REQUEST)
    events = stream_turn(
        stream,
        await anext(stream),
        start={"message_id": "m1"},
        on_end=on_end,
        prompt=REQUEST.messages,
        drain=drain if explicit else None,
    )
    sent = await _served(EventStreamResponse(events, drain=drain), drain, after=0.2)
    name, data = sent[-1].decode().strip().split("\n")
    error = json.loads(data.removeprefix("data: "))
    assert name == "event: error"
    assert error["type"] == "ServerShuttingDown"
    assert error["partial_content"].startswith("word word")
    [(outcome, error_type, text)] = ends
    assert (outcome, error_type) == ("error", "DrainDeadlineReached")
    assert text == error["partial_content"]
