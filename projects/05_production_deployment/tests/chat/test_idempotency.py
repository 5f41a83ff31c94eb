"""Idempotency-Key on chat POSTs: a retry returns the first result and runs nothing again."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from production_deployment.chat.models import Message
from production_deployment.usage.models import UsageRecord


async def _counts(app) -> tuple[int, int]:
    async with app.state.db.sessionmaker() as session:
        messages = await session.scalar(select(func.count()).select_from(Message))
        ledger = await session.scalar(select(func.count()).select_from(UsageRecord))
    return messages, ledger


async def test_a_retry_returns_the_first_result(app, client, chat_path):
    headers = {"Idempotency-Key": "turn-1"}
    first = await client.post(chat_path, json={"content": "hello"}, headers=headers)
    again = await client.post(chat_path, json={"content": "hello"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _counts(app) == (2, 1)


async def test_same_key_different_body_is_422(app, client, chat_path, expect_error):
    headers = {"Idempotency-Key": "turn-1"}
    await client.post(chat_path, json={"content": "hello"}, headers=headers)
    response = await client.post(chat_path, json={"content": "other"}, headers=headers)
    expect_error(response, 422, "IdempotencyKeyReused")
    assert await _counts(app) == (2, 1)


async def test_keys_are_per_user(anon, client, chat_path, make_user):
    bob = await make_user()
    theirs = await anon.post("/api/v1/conversations", json={"title": "b"}, headers=bob.headers)
    path = f"/api/v1/conversations/{theirs.json()['id']}/chat"
    headers = {"Idempotency-Key": "shared"}
    mine = await client.post(chat_path, json={"content": "x"}, headers=headers)
    bobs = await anon.post(path, json={"content": "x"}, headers={**bob.headers, **headers})
    assert mine.status_code == bobs.status_code == 201
    assert "idempotent-replayed" not in bobs.headers
    assert bobs.json()["user_message"]["id"] != mine.json()["user_message"]["id"]


@pytest.mark.parametrize("key", ["", "a" * 256, "with space", "tab\there"])
@pytest.mark.sqlite_only
async def test_invalid_keys_are_422(client, chat_path, expect_error, key):
    response = await client.post(chat_path, json={"content": "x"}, headers={"Idempotency-Key": key})
    assert response.status_code == 422


def _events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        name = next(line[7:] for line in lines if line.startswith("event: "))
        events.append((name, json.loads("".join(line[6:] for line in lines[1:]))))
    return events


class TestStreams:
    STREAM = {"content": "tell me more", "stream": True}

    async def test_a_retry_replays_the_events(self, app, client, chat_path):
        headers = {"Idempotency-Key": "stream-1"}
        first = await client.post(chat_path, json=self.STREAM, headers=headers)
        again = await client.post(chat_path, json=self.STREAM, headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.headers["content-type"].startswith("text/event-stream")
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        sent, replayed = _events(first.text), _events(again.text)
        assert len([name for name, _ in sent if name == "delta"]) > 1
        assert [name for name, _ in replayed] == ["start", "delta", "done"]
        assert replayed[0] == sent[0]
        assert replayed[-1] == sent[-1]
        text = "".join(data["text"] for name, data in sent if name == "delta")
        assert replayed[1][1]["text"] == text == "Echo: tell me more"
        assert await _counts(app) == (2, 1)

    async def test_the_same_key_without_stream_is_a_different_request(
        self, app, client, chat_path, expect_error
    ):
        headers = {"Idempotency-Key": "stream-2"}
        await client.post(chat_path, json=self.STREAM, headers=headers)
        plain = await client.post(chat_path, json={"content": "tell me more"}, headers=headers)
        expect_error(plain, 422, "IdempotencyKeyReused")
        assert await _counts(app) == (2, 1)

    async def test_a_replay_after_the_conversation_moved_on_is_unchanged(self, client, chat_path):
        headers = {"Idempotency-Key": "stream-3"}
        first = await client.post(chat_path, json=self.STREAM, headers=headers)
        await client.post(chat_path, json={"content": "a later turn"})
        again = await client.post(chat_path, json=self.STREAM, headers=headers)
        assert _events(again.text)[-1] == _events(first.text)[-1]


class TestStreamFailingMidway:
    @pytest.fixture
    def llm_registry(self) -> ProviderRegistry:
        script = MockScript(reply="one two three four", error_after_chunks=2, fail_times=1)
        return ProviderRegistry({"mock": MockProvider(script)})

    async def test_the_key_is_released_so_a_retry_runs(self, app, client, chat_path):
        headers = {"Idempotency-Key": "broken-stream"}
        body = {"content": "x", "stream": True}
        broken = await client.post(chat_path, json=body, headers=headers)
        assert [name for name, _ in _events(broken.text)][-1] == "error"
        retried = await client.post(chat_path, json=body, headers=headers)
        assert "idempotent-replayed" not in retried.headers
        assert _events(retried.text)[-1][0] == "done"
        again = await client.post(chat_path, json=body, headers=headers)
        assert again.headers["idempotent-replayed"] == "true"
        assert _events(again.text)[-1] == _events(retried.text)[-1]
        assert await _counts(app) == (4, 2)  # two user turns, a broken reply and a whole one


class TestAfterAFailure:
    @pytest.fixture
    def llm_registry(self) -> ProviderRegistry:
        flaky = MockProvider(
            MockScript(error=ProviderUnavailable("x", provider="mock"), fail_times=1)
        )
        return ProviderRegistry({"mock": flaky})

    async def test_the_key_is_released_so_a_retry_runs(self, client, chat_path):
        headers = {"Idempotency-Key": "retry-me"}
        failed = await client.post(chat_path, json={"content": "x"}, headers=headers)
        assert failed.status_code == 502
        retried = await client.post(chat_path, json={"content": "x"}, headers=headers)
        assert retried.status_code == 201
        assert "idempotent-replayed" not in retried.headers


async def test_the_gateway_takes_keys_too(app, client):
    body = {"model": "mock/echo-1", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Idempotency-Key": "gw-1"}
    first = await client.post("/v1/chat/completions", json=body, headers=headers)
    again = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert await _counts(app) == (0, 1)


def _chunks(text: str) -> list[dict | str]:
    data = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    return [item if item == "[DONE]" else json.loads(item) for item in data]


@pytest.mark.parametrize("include_usage", [False, True])
async def test_the_gateway_replays_a_stream_as_chunks(app, client, include_usage):
    body = {
        "model": "mock/echo-1",
        "messages": [{"role": "user", "content": "stream it"}],
        "stream": True,
        "stream_options": {"include_usage": include_usage},
    }
    headers = {"Idempotency-Key": "gw-stream"}
    first = await client.post("/v1/chat/completions", json=body, headers=headers)
    again = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    sent, replayed = _chunks(first.text), _chunks(again.text)
    assert sent[-1] == replayed[-1] == "[DONE]"
    assert {c["id"] for c in replayed[:-1]} == {c["id"] for c in sent[:-1]}  # one completion

    def text(chunks: list) -> str:
        return "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1] if c["choices"]
        )

    assert text(replayed) == text(sent) == "Echo: stream it"
    finishes = [c["choices"][0]["finish_reason"] for c in replayed[:-1] if c["choices"]]
    assert finishes[-1] == "stop"
    usage = [c["usage"] for c in sent[:-1] if c.get("usage")]
    assert [c["usage"] for c in replayed[:-1] if c.get("usage")] == usage
    assert len(usage) == (1 if include_usage else 0)
    assert await _counts(app) == (0, 1)
