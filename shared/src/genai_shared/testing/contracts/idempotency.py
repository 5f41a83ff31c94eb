"""``Idempotency-Key`` on a metered API's POSTs: a retry gets the first result and runs
nothing again (no message stored, no call made or charged twice).

Fixtures a project's conftest provides:

- ``app``, ``client``: the app and a client signed in as its default user, tables created.
- ``anon``: a client with no credentials; ``make_user()`` signs up another user (its
  ``headers`` authenticate it).
- ``chat_path``: the chat path of a conversation of ``client``'s user.
- ``expect_error``: from the genai_shared plugin.

The app must build its providers from the ``llm_registry`` fixture (the failure classes
override it).

Class attributes a subclass sets: ``message_model`` (the ``Message`` model) and
``ledger_model`` (the usage ledger's row model: one row per settled call).

``IdempotencyInputContract`` holds the keys refused before anything runs, apart, so a
project can run it on SQLite only.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.testing.contracts.support import ExpectError

# make_user(): a new signed-up user; its ``headers`` authenticate it.
MakeUser = Callable[[], Awaitable[Any]]

GATEWAY = "/v1/chat/completions"


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """A chat stream's server-sent events, as (name, data) pairs."""
    found = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        name = next(line[7:] for line in lines if line.startswith("event: "))
        found.append((name, json.loads("".join(line[6:] for line in lines[1:]))))
    return found


def chunks(text: str) -> list[Any]:
    """A gateway stream's ``data:`` items: chunks, then ``[DONE]``."""
    data = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    return [item if item == "[DONE]" else json.loads(item) for item in data]


class _Counts:
    message_model: ClassVar[type[Any]]
    ledger_model: ClassVar[type[Any]]

    async def counts(self, app: FastAPI) -> tuple[int, int]:
        """How many messages and ledger rows are stored."""
        async with app.state.db.sessionmaker() as session:
            messages = await session.scalar(select(func.count()).select_from(self.message_model))
            ledger = await session.scalar(select(func.count()).select_from(self.ledger_model))
        return int(messages or 0), int(ledger or 0)


class IdempotencyContract(_Counts):
    """Chat turns (whole and streamed) and gateway calls, sent again with their key."""

    STREAM: ClassVar[dict[str, Any]] = {"content": "tell me more", "stream": True}

    async def test_a_retry_returns_the_first_result(
        self, app: FastAPI, client: httpx.AsyncClient, chat_path: str
    ) -> None:
        headers = {"Idempotency-Key": "turn-1"}
        first = await client.post(chat_path, json={"content": "hello"}, headers=headers)
        again = await client.post(chat_path, json={"content": "hello"}, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert await self.counts(app) == (2, 1)

    async def test_same_key_different_body_is_422(
        self, app: FastAPI, client: httpx.AsyncClient, chat_path: str, expect_error: ExpectError
    ) -> None:
        headers = {"Idempotency-Key": "turn-1"}
        await client.post(chat_path, json={"content": "hello"}, headers=headers)
        response = await client.post(chat_path, json={"content": "other"}, headers=headers)
        expect_error(response, 422, "IdempotencyKeyReused")
        assert await self.counts(app) == (2, 1)

    async def test_keys_are_per_user(
        self,
        anon: httpx.AsyncClient,
        client: httpx.AsyncClient,
        chat_path: str,
        make_user: MakeUser,
    ) -> None:
        bob = await make_user()
        theirs = await anon.post("/api/v1/conversations", json={"title": "b"}, headers=bob.headers)
        path = f"/api/v1/conversations/{theirs.json()['id']}/chat"
        headers = {"Idempotency-Key": "shared"}
        mine = await client.post(chat_path, json={"content": "x"}, headers=headers)
        bobs = await anon.post(path, json={"content": "x"}, headers={**bob.headers, **headers})
        assert mine.status_code == bobs.status_code == 201
        assert "idempotent-replayed" not in bobs.headers
        assert bobs.json()["user_message"]["id"] != mine.json()["user_message"]["id"]

    async def test_a_retry_of_a_stream_replays_the_events(
        self, app: FastAPI, client: httpx.AsyncClient, chat_path: str
    ) -> None:
        headers = {"Idempotency-Key": "stream-1"}
        first = await client.post(chat_path, json=self.STREAM, headers=headers)
        again = await client.post(chat_path, json=self.STREAM, headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.headers["content-type"].startswith("text/event-stream")
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        sent, replayed = events(first.text), events(again.text)
        assert len([name for name, _ in sent if name == "delta"]) > 1
        assert [name for name, _ in replayed] == ["start", "delta", "done"]
        assert replayed[0] == sent[0]
        assert replayed[-1] == sent[-1]
        text = "".join(data["text"] for name, data in sent if name == "delta")
        assert replayed[1][1]["text"] == text == "Echo: tell me more"
        assert await self.counts(app) == (2, 1)

    async def test_the_same_key_without_stream_is_a_different_request(
        self, app: FastAPI, client: httpx.AsyncClient, chat_path: str, expect_error: ExpectError
    ) -> None:
        headers = {"Idempotency-Key": "stream-2"}
        await client.post(chat_path, json=self.STREAM, headers=headers)
        plain = await client.post(chat_path, json={"content": "tell me more"}, headers=headers)
        expect_error(plain, 422, "IdempotencyKeyReused")
        assert await self.counts(app) == (2, 1)

    async def test_a_stream_replayed_after_the_conversation_moved_on_is_unchanged(
        self, client: httpx.AsyncClient, chat_path: str
    ) -> None:
        headers = {"Idempotency-Key": "stream-3"}
        first = await client.post(chat_path, json=self.STREAM, headers=headers)
        await client.post(chat_path, json={"content": "a later turn"})
        again = await client.post(chat_path, json=self.STREAM, headers=headers)
        assert events(again.text)[-1] == events(first.text)[-1]

    async def test_the_gateway_takes_keys_too(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        body = {"model": "mock/echo-1", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"Idempotency-Key": "gw-1"}
        first = await client.post(GATEWAY, json=body, headers=headers)
        again = await client.post(GATEWAY, json=body, headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert await self.counts(app) == (0, 1)

    @pytest.mark.parametrize("include_usage", [False, True])
    async def test_the_gateway_replays_a_stream_as_chunks(
        self, app: FastAPI, client: httpx.AsyncClient, include_usage: bool
    ) -> None:
        body = {
            "model": "mock/echo-1",
            "messages": [{"role": "user", "content": "stream it"}],
            "stream": True,
            "stream_options": {"include_usage": include_usage},
        }
        headers = {"Idempotency-Key": "gw-stream"}
        first = await client.post(GATEWAY, json=body, headers=headers)
        again = await client.post(GATEWAY, json=body, headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        sent, replayed = chunks(first.text), chunks(again.text)
        assert sent[-1] == replayed[-1] == "[DONE]"
        assert {c["id"] for c in replayed[:-1]} == {c["id"] for c in sent[:-1]}  # one completion

        def text(items: list[Any]) -> str:
            return "".join(
                c["choices"][0]["delta"].get("content") or "" for c in items[:-1] if c["choices"]
            )

        assert text(replayed) == text(sent) == "Echo: stream it"
        finishes = [c["choices"][0]["finish_reason"] for c in replayed[:-1] if c["choices"]]
        assert finishes[-1] == "stop"
        usage = [c["usage"] for c in sent[:-1] if c.get("usage")]
        assert [c["usage"] for c in replayed[:-1] if c.get("usage")] == usage
        assert len(usage) == (1 if include_usage else 0)
        assert await self.counts(app) == (0, 1)


class IdempotencyInputContract:
    """Malformed keys are refused before anything runs."""

    @pytest.mark.parametrize("key", ["", "a" * 256, "with space", "tab\there"])
    async def test_invalid_keys_are_422(
        self, client: httpx.AsyncClient, chat_path: str, key: str
    ) -> None:
        response = await client.post(
            chat_path, json={"content": "x"}, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 422


class StreamFailingMidwayContract(_Counts):
    """A stream that breaks after some output: its key is released, so a retry runs."""

    @pytest.fixture
    def llm_registry(self) -> ProviderRegistry:
        script = MockScript(reply="one two three four", error_after_chunks=2, fail_times=1)
        return ProviderRegistry({"mock": MockProvider(script)})

    async def test_the_key_is_released_so_a_retry_runs(
        self, app: FastAPI, client: httpx.AsyncClient, chat_path: str
    ) -> None:
        headers = {"Idempotency-Key": "broken-stream"}
        body = {"content": "x", "stream": True}
        broken = await client.post(chat_path, json=body, headers=headers)
        assert [name for name, _ in events(broken.text)][-1] == "error"
        retried = await client.post(chat_path, json=body, headers=headers)
        assert "idempotent-replayed" not in retried.headers
        assert events(retried.text)[-1][0] == "done"
        again = await client.post(chat_path, json=body, headers=headers)
        assert again.headers["idempotent-replayed"] == "true"
        assert events(again.text)[-1] == events(retried.text)[-1]
        assert await self.counts(app) == (4, 2)  # two user turns, a broken reply, a whole one


class AfterAFailureContract:
    """A call that failed before any output: its key is released, so a retry runs."""

    @pytest.fixture
    def llm_registry(self) -> ProviderRegistry:
        flaky = MockProvider(
            MockScript(error=ProviderUnavailable("x", provider="mock"), fail_times=1)
        )
        return ProviderRegistry({"mock": flaky})

    async def test_the_key_is_released_so_a_retry_runs(
        self, client: httpx.AsyncClient, chat_path: str
    ) -> None:
        headers = {"Idempotency-Key": "retry-me"}
        failed = await client.post(chat_path, json={"content": "x"}, headers=headers)
        assert failed.status_code == 502
        retried = await client.post(chat_path, json={"content": "x"}, headers=headers)
        assert retried.status_code == 201
        assert "idempotent-replayed" not in retried.headers
