"""Streaming chat over a real socket: the three promises, on every backend.

1. an error before the first byte is a real HTTP status with a JSON body, not a 200 stream;
2. an error mid-stream ends with an ``error`` event and the partial reply saved as ``error``;
3. a client that disconnects leaves the partial reply saved as ``cancelled`` and the
   provider's stream closed.

Usage is recorded in all three. The app runs under uvicorn in a thread (an in-process
transport can neither stream nor hang up half-way), so a test reads the database through an
engine of its own.

Fixtures a project's conftest provides:

- ``settings``: the project's settings on the plugin's ``backend``.
- ``register_owner``: ``await register_owner(client)`` signs a new ``Owner`` up through any
  client; the chat requests then carry its ``headers``.

Class attributes a subclass sets (read through the class, so a plain function stays unbound):

- ``message_model``: the project's ``Message`` model (its ``metadata`` gives the tables).
- ``create_app``: the project's ``create_app(settings, *, registry=...)``.

Hook: ``assert_settled(server, expected)`` is called at the end of every case with the
``(status, message)`` of each provider call the test made, in order. It does nothing here;
a project that meters usage overrides it to check its ledger.

``StreamingFixtures`` is the ``server`` fixture and the hook without the tests, for a
project's own streaming tests; ``parse_sse``, ``read_deltas`` and ``SpyProvider`` serve them too.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Protocol

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from genai_shared.db.session import Database
from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import ProviderError, ProviderTimeout, ProviderUnavailable, RateLimited
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.tokens import count_text
from genai_shared.llm.types import ChatRequest, ChatResponse, StreamEvent
from genai_shared.testing.contracts.support import (
    CONVERSATIONS,
    RegisterOwner,
    new_conversation,
)
from genai_shared.testing.live_server import live_server

LONG_REPLY = " ".join(f"word{i}" for i in range(400))

SseEvent = tuple[str, dict[str, Any]]
Settled = Sequence[tuple[str, Any]]


class AppWithRegistry(Protocol):
    """A project's ``create_app``: its app on these settings, with these providers."""

    def __call__(self, settings: Any, *, registry: ProviderRegistry | None = None) -> FastAPI: ...


class SpyProvider(LLMProvider):
    """The mock, plus a flag set (from the server's thread) once its stream is closed."""

    name = "mock"

    def __init__(self, script: MockScript | None = None) -> None:
        self.inner = MockProvider(script)
        self.stream_closed = threading.Event()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.inner.complete(request)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        try:
            async for event in self.inner.stream(request):
                yield event
        finally:
            self.stream_closed.set()


def parse_sse(text: str) -> list[SseEvent]:
    """A whole server-sent-events body as ``(event name, data)`` pairs, in order."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append((name, json.loads(data)))
    return events


async def read_deltas(lines: AsyncIterator[str], count: int) -> list[str]:
    """Read ``count`` deltas from a streaming response's lines, leaving the rest unread."""
    received: list[str] = []
    async for line in lines:
        if line.startswith("data: ") and '"text"' in line:
            received.append(json.loads(line[6:])["text"])
        if len(received) == count:
            break
    return received


class LiveChat:
    """The project's app served on a socket, and the database it writes to."""

    def __init__(
        self,
        settings: Any,
        db: Database,
        create_app: AppWithRegistry,
        message_model: type[Any],
        register_owner: RegisterOwner,
    ) -> None:
        self.settings = settings
        self.db = db
        self._create_app = create_app
        self._message_model = message_model
        self._register_owner = register_owner

    @asynccontextmanager
    async def chat(self, provider: LLMProvider) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        """Serve with ``provider`` as the only one; yield a signed-in client and a chat path."""
        app = self._create_app(self.settings, registry=ProviderRegistry({"mock": provider}))
        with live_server(app) as base_url:
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
                owner = await self._register_owner(client)
                client.headers.update(owner.headers)
                conversation = await new_conversation(client, owner, title="stream")
                yield client, f"{CONVERSATIONS}/{conversation['id']}/chat"

    async def messages(self) -> list[Any]:
        """Every stored message, oldest first."""
        model = self._message_model
        async with self.db.sessionmaker() as session:
            return list(await session.scalars(select(model).order_by(model.created_at)))

    async def wait_for_status(self, status: str, within: float = 10) -> Any:
        """The latest reply, once it reaches ``status``: the server saves it after the response."""
        deadline = time.monotonic() + within
        replies: list[Any] = []
        while time.monotonic() < deadline:
            replies = [m for m in await self.messages() if m.role == "assistant"]
            if replies and replies[-1].status == status:
                return replies[-1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no assistant message reached status {status!r}: {replies}")


class StreamingFixtures:
    """The ``server`` fixture and the settlement hook, for the contract and a project's tests."""

    message_model: ClassVar[type[Any]]
    create_app: ClassVar[AppWithRegistry]

    @pytest.fixture
    async def server(self, settings: Any, register_owner: RegisterOwner) -> AsyncIterator[LiveChat]:
        """The tables created through a database of the test's own, dropped afterwards."""
        cls = type(self)
        metadata = cls.message_model.metadata
        db = Database(settings.database_url)
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        try:
            yield LiveChat(settings, db, cls.create_app, cls.message_model, register_owner)
        finally:
            async with db.engine.begin() as conn:
                await conn.run_sync(metadata.drop_all)
            await db.dispose()

    async def assert_settled(self, server: LiveChat, expected: Settled) -> None:
        """Check what a project records per provider call; ``expected``: ``(status, message)``."""


class StreamingContract(StreamingFixtures):
    """A stream says how it ended, and the stored reply always agrees with it."""

    async def test_a_complete_stream(self, server: LiveChat) -> None:
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
        await self.assert_settled(server, [("complete", stored)])

    @pytest.mark.parametrize(
        ("error", "status", "error_type"),
        [
            (RateLimited("busy", provider="mock", retry_after=3), 429, "ProviderRateLimited"),
            (ProviderUnavailable("down", provider="mock"), 502, "ProviderDown"),
            (ProviderTimeout("slow", provider="mock"), 504, "ProviderTimedOut"),
        ],
        ids=["429", "502", "504"],
    )
    async def test_error_before_the_first_byte_is_a_real_status(
        self, server: LiveChat, error: ProviderError, status: int, error_type: str
    ) -> None:
        async with server.chat(SpyProvider(MockScript(error=error))) as (client, path):
            response = await client.post(path, json={"content": "hi", "stream": True})
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["type"] == error_type
        if status == 429:
            assert response.headers["retry-after"] == "3"
        user, reply = await server.messages()
        assert (user.role, user.content) == ("user", "hi")
        assert (reply.status, reply.content, reply.error_type) == (
            "error",
            "",
            type(error).__name__,
        )
        assert (reply.input_tokens, reply.output_tokens) == (0, 0)
        await self.assert_settled(server, [("error", reply)])

    async def test_error_mid_stream_ends_with_an_error_event_and_keeps_the_partial(
        self, server: LiveChat
    ) -> None:
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
        await self.assert_settled(server, [("error", stored)])

    async def test_client_disconnect_saves_the_partial_as_cancelled_and_closes_upstream(
        self, server: LiveChat
    ) -> None:
        spy = SpyProvider(MockScript(reply=LONG_REPLY, chunk_delay=0.02))
        async with server.chat(spy) as (client, path):
            async with client.stream("POST", path, json={"content": "hi", "stream": True}) as r:
                assert r.status_code == 200
                # Leaving the block after three deltas closes the connection mid-stream.
                received = await read_deltas(r.aiter_lines(), 3)
            assert len(received) == 3
            stored = await server.wait_for_status("cancelled")
            assert await asyncio.to_thread(spy.stream_closed.wait, 5)
        assert stored.content.startswith("".join(received))
        assert len(stored.content) < len(LONG_REPLY)
        assert stored.usage_estimated is True
        assert stored.input_tokens > 0
        assert stored.output_tokens >= 3
        assert stored.latency_ms is not None
        await self.assert_settled(server, [("cancelled", stored)])
