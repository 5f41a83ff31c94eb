"""The SSE encoder and the streaming response that always cleans up."""

from __future__ import annotations

import asyncio
import json

import httpx

from genai_shared.testing.live_server import live_server
from genai_shared.web.sse import EventStreamResponse, sse_event


def test_event_encoding():
    assert sse_event({"a": 1}) == b'data: {"a":1}\n\n'
    assert sse_event({"text": "hi"}, event="delta") == b'event: delta\ndata: {"text":"hi"}\n\n'
    assert sse_event("line one\nline two") == b"data: line one\ndata: line two\n\n"


async def test_a_disconnect_closes_the_body_iterator_at_once():
    events: list[str] = []

    async def forever():
        try:
            for i in range(10_000):
                yield sse_event({"i": i})
                await asyncio.sleep(0.01)
        finally:
            events.append("closed")  # list.append is safe across the server's thread

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})
            return
        await EventStreamResponse(forever())(scope, receive, send)

    with live_server(app) as url:
        async with (
            httpx.AsyncClient(timeout=5) as client,
            client.stream("GET", url) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-accel-buffering"] == "no"
            async for line in response.aiter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["i"] == 2:
                    break
        for _ in range(200):
            if events:
                break
            await asyncio.sleep(0.01)
    assert events == ["closed"]


async def test_a_client_gone_before_the_first_byte_still_runs_the_cleanup():
    """The body iterator is started before anything else, so its cleanup (saving a reply,
    settling a budget, closing the upstream) runs even if the client left at once."""
    events: list[str] = []

    async def body():
        try:
            yield sse_event({"i": 0})
            yield sse_event({"i": 1})
        finally:
            events.append("closed")

    async def gone() -> dict:
        return {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)
        await asyncio.sleep(0)

    scope = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "GET", "headers": []}
    await EventStreamResponse(body())(scope, gone, send)
    assert events == ["closed"]


async def test_an_empty_body_is_an_empty_stream():
    async def nothing():
        return
        yield b""  # pragma: no cover - makes this an async generator

    sent: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(3600)  # hang guard: the stream ends first
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "GET", "headers": []}
    await asyncio.wait_for(EventStreamResponse(nothing())(scope, receive, send), 10)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[-1].get("body", b"") == b""
    assert not sent[-1].get("more_body", False)
