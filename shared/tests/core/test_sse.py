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
