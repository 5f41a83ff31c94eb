"""Streaming chat over a real socket: the three promises, each against SQLite and PostgreSQL.

1. an error before the first byte is a real HTTP status with a JSON body, not a 200 stream;
2. an error mid-stream ends with an ``error`` event and the partial reply saved as ``error``;
3. a client that disconnects leaves the partial reply saved as ``cancelled`` and the
   provider's stream closed.

Usage is recorded in all three. The app runs under uvicorn in a thread (an in-process
transport cannot stream or disconnect), so the test reads the database through its own
engine.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from genai_shared.db.session import Database
from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import ProviderTimeout, ProviderUnavailable, RateLimited
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.tokens import count_text
from genai_shared.llm.types import ChatRequest, ChatResponse, StreamEvent
from genai_shared.testing.live_server import live_server
from secure_chat_api.chat.models import Message
from secure_chat_api.core.database import Base
from secure_chat_api.main import create_app
from secure_chat_api.usage.models import UsageRecord, UserSpend

LONG_REPLY = " ".join(f"word{i}" for i in range(400))


class SpyProvider(LLMProvider):
    """The mock, plus a flag set when its stream is closed (from the server's thread)."""

    name = "mock"

    def __init__(self, script: MockScript | None = None) -> None:
        self.inner = MockProvider(script)
        self.stream_closed = threading.Event()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.inner.complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        try:
            async for event in self.inner.stream(request):
                yield event
        finally:
            self.stream_closed.set()


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append((name, json.loads(data)))
    return events


@pytest.fixture
async def server(settings):
    """Start the app on a socket; yield a function that serves it with a given provider."""
    db = Database(settings.database_url)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)

    class Running:
        def __init__(self) -> None:
            self.db = db

        def serve(self, provider: LLMProvider):  # type: ignore[no-untyped-def]
            registry = ProviderRegistry({"mock": provider})
            return live_server(create_app(settings, registry=registry))

        @asynccontextmanager
        async def chat(self, provider: LLMProvider) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
            """Serve with ``provider``; yield a signed-in client and a conversation's chat path."""
            with self.serve(provider) as base_url:
                async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
                    yield client, await _conversation(client)

        async def messages(self) -> list[Message]:
            async with db.sessionmaker() as session:
                rows = await session.scalars(select(Message).order_by(Message.created_at))
                return list(rows)

        async def ledger(self) -> tuple[list[UsageRecord], list[UserSpend]]:
            async with db.sessionmaker() as session:
                rows = list(await session.scalars(select(UsageRecord)))
                spend = list(await session.scalars(select(UserSpend)))
                return rows, spend

        async def wait_for_status(self, status: str, within: float = 10) -> Message:
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                replies = [m for m in await self.messages() if m.role == "assistant"]
                if replies and replies[-1].status == status:
                    return replies[-1]
                await asyncio.sleep(0.05)
            raise AssertionError(f"no assistant message reached status {status!r}: {replies}")

    yield Running()
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await db.dispose()


async def _assert_settled(server, expected: list[tuple[str, Message]]) -> None:
    """One ledger row per call, tied to its message, and no reservation left behind."""
    rows, spend = await server.ledger()
    assert [(r.status, r.message_id) for r in rows] == [(s, m.id) for s, m in expected]
    for row, (_, message) in zip(rows, expected, strict=True):
        assert (row.input_tokens, row.output_tokens) == (
            message.input_tokens,
            message.output_tokens,
        )
        assert row.usage_estimated == message.usage_estimated
        assert row.request_id
    assert [s.reserved_micro_usd for s in spend] == [0]


async def _conversation(client: httpx.AsyncClient) -> str:
    """Sign up and in (the client keeps the token), start a conversation, return its chat path."""
    email = "s@x.io"
    password = "a long enough password"
    await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "display_name": "S", "password": password},
    )
    tokens = (
        await client.post("/api/v1/auth/login", data={"username": email, "password": password})
    ).json()
    client.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    conversation = await client.post("/api/v1/conversations", json={"title": "stream"})
    return f"/api/v1/conversations/{conversation.json()['id']}/chat"


async def test_a_complete_stream(server):
    async with server.chat(SpyProvider()) as (client, path):
        response = await client.post(path, json={"content": "stream me", "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "start"
    assert names[-1] == "done"
    assert set(names[1:-1]) == {"delta"}
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert text == "Echo: stream me"
    done = events[-1][1]
    assert done["finish_reason"] == "stop"
    assert done["usage"]["output_tokens"] > 0
    stored = await server.wait_for_status("complete")
    assert str(stored.id) == done["message_id"] == events[0][1]["message_id"]
    assert stored.content == text
    assert (stored.input_tokens, stored.output_tokens) == (
        done["usage"]["input_tokens"],
        done["usage"]["output_tokens"],
    )
    assert stored.usage_estimated is False
    await _assert_settled(server, [("complete", stored)])


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (RateLimited("busy", provider="mock", retry_after=3), 429, "ProviderRateLimited"),
        (ProviderUnavailable("down", provider="mock"), 502, "ProviderDown"),
        (ProviderTimeout("slow", provider="mock"), 504, "ProviderTimedOut"),
    ],
    ids=["429", "502", "504"],
)
async def test_error_before_the_first_byte_is_a_real_status(server, error, status, error_type):
    async with server.chat(SpyProvider(MockScript(error=error))) as (client, path):
        response = await client.post(path, json={"content": "hi", "stream": True})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == error_type
    if status == 429:
        assert response.headers["retry-after"] == "3"
    user, reply = await server.messages()
    assert (user.role, user.content) == ("user", "hi")
    assert (reply.status, reply.content, reply.error_type) == ("error", "", type(error).__name__)
    assert (reply.input_tokens, reply.output_tokens) == (0, 0)
    await _assert_settled(server, [("error", reply)])


async def test_error_mid_stream_ends_with_an_error_event_and_keeps_the_partial(server):
    script = MockScript(reply="one two three four five six", error_after_chunks=3)
    async with server.chat(SpyProvider(script)) as (client, path):
        response = await client.post(path, json={"content": "hi", "stream": True})
    assert response.status_code == 200
    events = parse_sse(response.text)
    assert [name for name, _ in events] == ["start", "delta", "delta", "delta", "error"]
    error = events[-1][1]
    assert error["type"] == "ProviderDown"
    assert error["partial_content"] == "one two three "
    stored = await server.wait_for_status("error")
    assert stored.content == "one two three "
    assert stored.error_type == "ProviderUnavailable"
    assert stored.usage_estimated is True
    assert stored.input_tokens > 0
    assert stored.output_tokens == count_text("one two three ")
    await _assert_settled(server, [("error", stored)])


async def test_client_disconnect_saves_the_partial_as_cancelled_and_closes_upstream(server):
    spy = SpyProvider(MockScript(reply=LONG_REPLY, chunk_delay=0.02))
    async with server.chat(spy) as (client, path):
        received = []
        async with client.stream("POST", path, json={"content": "hi", "stream": True}) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith("data: ") and '"text"' in line:
                    received.append(json.loads(line[6:])["text"])
                if len(received) == 3:
                    break  # leaving the block closes the connection mid-stream
        stored = await server.wait_for_status("cancelled")
        assert await asyncio.to_thread(spy.stream_closed.wait, 5)
    assert stored.content.startswith("".join(received))
    assert len(stored.content) < len(LONG_REPLY)
    assert stored.usage_estimated is True
    assert stored.input_tokens > 0
    assert stored.output_tokens >= 3
    assert stored.latency_ms is not None
    await _assert_settled(server, [("cancelled", stored)])


async def _read_deltas(lines: AsyncIterator[str], count: int) -> list[str]:
    """Read ``count`` deltas from a streaming response's lines, leaving the rest unread."""
    received: list[str] = []
    async for line in lines:
        if line.startswith("data: ") and '"text"' in line:
            received.append(json.loads(line[6:])["text"])
        if len(received) == count:
            break
    return received


class TestIdempotencyKeys:
    """Idempotency-Key on a stream: claimed before it starts, kept only once it is ``done``."""

    REPLY = " ".join(f"w{i}" for i in range(40))
    BODY = {"content": "hi", "stream": True}

    async def test_a_retry_while_streaming_is_409_and_after_it_a_replay(self, server):
        spy = SpyProvider(MockScript(reply=self.REPLY, chunk_delay=0.02))
        headers = {"Idempotency-Key": "live-1"}
        async with server.chat(spy) as (client, path):
            async with client.stream("POST", path, json=self.BODY, headers=headers) as first:
                lines = first.aiter_lines()
                await _read_deltas(lines, 2)
                meanwhile = await client.post(path, json=self.BODY, headers=headers)
                rest = "\n".join([line async for line in lines])
            replay = await client.post(path, json=self.BODY, headers=headers)
        assert meanwhile.status_code == 409
        assert meanwhile.json()["error"]["type"] == "IdempotentRequestInProgress"
        assert "event: done" in rest
        assert replay.status_code == 200
        assert replay.headers["idempotent-replayed"] == "true"
        events = parse_sse(replay.text)
        assert [name for name, _ in events] == ["start", "delta", "done"]
        assert events[1][1]["text"] == self.REPLY
        stored = await server.wait_for_status("complete")
        assert events[-1][1]["message_id"] == str(stored.id)
        await _assert_settled(server, [("complete", stored)])

    async def test_a_client_that_left_can_retry_for_real(self, server):
        spy = SpyProvider(MockScript(reply=self.REPLY, chunk_delay=0.02))
        headers = {"Idempotency-Key": "live-2"}
        async with server.chat(spy) as (client, path):
            async with client.stream("POST", path, json=self.BODY, headers=headers) as first:
                assert len(await _read_deltas(first.aiter_lines(), 3)) == 3
            cancelled = await server.wait_for_status("cancelled")
            retried = await client.post(path, json=self.BODY, headers=headers)
        assert retried.status_code == 200
        assert "idempotent-replayed" not in retried.headers
        events = parse_sse(retried.text)
        assert events[-1][0] == "done"
        assert "".join(d["text"] for name, d in events if name == "delta") == self.REPLY
        complete = await server.wait_for_status("complete")
        await _assert_settled(server, [("cancelled", cancelled), ("complete", complete)])
