"""The shared metered chat turn (``genai_shared.chat.service``), on SQLite, with a fake
idempotency store and a fake meter standing in for a project's own.

The projects' tests prove their wiring (their budgets, ledgers and keys, through their
routes); these prove the flow they all share: what is stored, when the meter is opened
and settled, what a key's stored response replays, and what a failure leaves behind.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import Response
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase

from genai_shared.cache import MemoryCache
from genai_shared.chat.cache import RecentConversationsCache, recent_conversations_cache
from genai_shared.chat.models import ChatMessageColumns, ConversationColumns
from genai_shared.chat.schemas import ChatMessagePublic, ChatTurnRequest, ChatTurnResponse
from genai_shared.chat.service import Admission, ChatService, Idempotency
from genai_shared.db.session import Database
from genai_shared.llm.calls import CallRecord
from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.http_errors import MaxTokensTooLarge, ProviderDown
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.types import ChatMessage
from genai_shared.users.models import UserColumns
from genai_shared.web.errors import NotFound


class Base(DeclarativeBase):
    pass


class User(UserColumns, Base):
    __tablename__ = "user"


class Conversation(ConversationColumns, Base):
    __tablename__ = "conversation"


class Message(ChatMessageColumns, Base):
    __tablename__ = "message"


class Missing(NotFound):
    message = "Conversation not found"


@dataclass(frozen=True)
class Kept:
    status_code: int
    body: Any


@dataclass
class Found:
    stored: Kept | None = None
    claim: str | None = None


@dataclass
class Keys:
    """A project's idempotency store, in memory: one kept response per key."""

    kept: dict[str, Kept] = field(default_factory=dict)
    claims: list[str] = field(default_factory=list)

    @asynccontextmanager
    async def guard(
        self,
        *,
        db: Database,
        user_id: uuid.UUID,
        key: str | None,
        route: str,
        body: Any,
        ttl_seconds: int,
    ) -> AsyncIterator[Found]:
        if key is not None and key in self.kept:
            yield Found(stored=self.kept[key])
            return
        if key is not None:
            self.claims.append(key)
        yield Found(claim=key)


@dataclass
class FakeMeter:
    claim: str | None
    keys: Keys
    settled: list[tuple[CallRecord, uuid.UUID | None, Kept | None]] = field(default_factory=list)

    async def settle(
        self,
        record: CallRecord,
        *,
        session: Any = None,
        message_id: uuid.UUID | None = None,
        response: Kept | None = None,
    ) -> None:
        self.settled.append((record, message_id, response))
        if self.claim is not None and response is not None:
            self.keys.kept[self.claim] = response


@dataclass
class Settings:
    chat_history_messages: int = 50
    chat_max_tokens_cap: int = 1000
    llm_default_max_tokens: int = 256
    idempotency_ttl_seconds: int = 60


@dataclass
class World:
    db: Database
    cache: RecentConversationsCache
    keys: Keys
    owner: uuid.UUID
    conversation_id: uuid.UUID
    meters: list[FakeMeter] = field(default_factory=list)
    admissions: list[Admission[str]] = field(default_factory=list)

    async def open_meter(self, admission: Admission[str]) -> FakeMeter:
        self.admissions.append(admission)
        meter = FakeMeter(claim=admission.claim, keys=self.keys)
        self.meters.append(meter)
        return meter

    async def messages(self) -> list[Message]:
        async with self.db.sessionmaker() as session:
            rows = await session.scalars(select(Message).order_by(Message.created_at))
            return list(rows)


def _service(keys: Keys, **options: Any) -> ChatService[Any, Any, Any, Any, Any]:
    return ChatService(
        Conversation,
        Message,
        message_public=ChatMessagePublic,
        not_found=Missing,
        idempotency=Idempotency(
            guard=keys.guard, stored_response=Kept, replayed_headers={"Replayed": "yes"}
        ),
        **options,
    )


@pytest.fixture
async def world(sqlite_url: str) -> AsyncIterator[World]:
    db = Database(sqlite_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    owner, conversation_id = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        session.add(User(id=owner, email="a@example.com", display_name="A"))
        await session.flush()
        session.add(Conversation(id=conversation_id, user_id=owner, title="t", meta={}))
    cache = recent_conversations_cache(MemoryCache(), namespace="t", ttl_seconds=60)
    try:
        yield World(db, cache, Keys(), owner, conversation_id)
    finally:
        await db.dispose()


def _registry(script: MockScript | None = None) -> ProviderRegistry:
    return ProviderRegistry({"mock": MockProvider(script or MockScript())})


async def _turn(
    world: World,
    service: ChatService[Any, Any, Any, Any, Any],
    *,
    content: str = "hello",
    registry: ProviderRegistry | None = None,
    key: str | None = None,
    user_id: uuid.UUID | None = None,
    **body: Any,
) -> ChatTurnResponse | Response:
    return await service.chat_turn(
        db=world.db,
        cache=world.cache,
        registry=registry or _registry(),
        settings=Settings(),
        user_id=user_id or world.owner,
        conversation_id=world.conversation_id,
        data=ChatTurnRequest(content=content, **body),
        idempotency_key=key,
        open_meter=world.open_meter,
    )


async def _body(response: Response) -> str:
    parts = [
        chunk if isinstance(chunk, bytes) else str(chunk).encode()
        async for chunk in response.body_iterator  # type: ignore[attr-defined]
    ]
    return b"".join(parts).decode()


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = "".join(line[6:] for line in lines if line.startswith("data: "))
        found.append((name, json.loads(data)))
    return found


class TestWholeTurn:
    async def test_stores_both_messages_and_settles_once_with_the_kept_response(
        self, world: World
    ) -> None:
        service = _service(world.keys)
        response = await _turn(world, service, key="k1")
        assert isinstance(response, ChatTurnResponse)
        assert response.assistant_message.content == "Echo: hello"

        (admission,) = world.admissions
        assert admission.claim == "k1"
        assert admission.max_tokens == 256  # the server's default, under the cap
        assert [m.content for m in admission.history] == ["hello"]
        (meter,) = world.meters
        ((_record, message_id, kept),) = meter.settled
        assert message_id == response.assistant_message.id
        assert kept is not None
        assert kept.status_code == 201
        assert kept.body["assistant_message"]["id"] == str(message_id)
        assert [(m.role, m.status) for m in await world.messages()] == [
            ("user", "complete"),
            ("assistant", "complete"),
        ]

    async def test_a_kept_response_is_replayed_and_nothing_runs(self, world: World) -> None:
        service = _service(world.keys)
        first = await _turn(world, service, key="k1")
        assert isinstance(first, ChatTurnResponse)
        again = await _turn(world, service, key="k1")
        assert isinstance(again, Response)
        assert again.status_code == 201
        assert again.headers["replayed"] == "yes"
        assert json.loads(bytes(again.body)) == json.loads(first.model_dump_json())
        assert len(world.meters) == 1  # no second reservation, no second call
        assert len(await world.messages()) == 2

    async def test_someone_elses_conversation_stores_and_reserves_nothing(
        self, world: World
    ) -> None:
        with pytest.raises(Missing):
            await _turn(world, _service(world.keys), user_id=uuid.uuid4())
        assert world.admissions == []
        assert await world.messages() == []

    async def test_max_tokens_over_the_cap_is_refused_before_anything(self, world: World) -> None:
        with pytest.raises(MaxTokensTooLarge):
            await _turn(world, _service(world.keys), key="k", max_tokens=1001)
        assert world.keys.claims == []
        assert world.admissions == []

    async def test_a_refused_reservation_leaves_no_message(self, world: World) -> None:
        class OverBudget(Exception):
            pass

        async def refuse(admission: Admission[str]) -> FakeMeter:
            raise OverBudget

        with pytest.raises(OverBudget):
            await _service(world.keys).chat_turn(
                db=world.db,
                cache=world.cache,
                registry=_registry(),
                settings=Settings(),
                user_id=world.owner,
                conversation_id=world.conversation_id,
                data=ChatTurnRequest(content="x"),
                idempotency_key=None,
                open_meter=refuse,
            )
        assert await world.messages() == []  # the user's message went with the transaction

    async def test_a_provider_failure_stores_an_error_reply_and_settles_it(
        self, world: World
    ) -> None:
        failing = _registry(MockScript(error=ProviderUnavailable("down", provider="mock")))
        with pytest.raises(ProviderDown):  # the 502 the route answers
            await _turn(world, _service(world.keys), registry=failing)
        ((_record, _, kept),) = world.meters[0].settled
        assert kept is None  # nothing a retry should get back
        assert [(m.role, m.status) for m in await world.messages()] == [
            ("user", "complete"),
            ("assistant", "error"),
        ]

    async def test_a_project_history_replaces_the_plain_one(self, world: World) -> None:
        seen: list[tuple[uuid.UUID, int]] = []

        async def load_history(
            session: Any, *, conversation_id: uuid.UUID, limit: int
        ) -> list[ChatMessage]:
            seen.append((conversation_id, limit))
            return [ChatMessage(role="user", content="from the project")]

        service = _service(world.keys, load_history=load_history)
        await _turn(world, service)
        assert seen == [(world.conversation_id, 50)]
        assert [m.content for m in world.admissions[0].history] == ["from the project"]

    async def test_a_turn_invalidates_the_owners_cached_list(self, world: World) -> None:
        before = await world.cache.generation(world.owner)
        await _turn(world, _service(world.keys))
        assert await world.cache.generation(world.owner) != before


class TestStreamedTurn:
    async def test_events_are_sent_then_the_reply_is_stored_and_settled(self, world: World) -> None:
        first_events: list[CallRecord] = []
        service = _service(world.keys)
        response = await service.chat_turn(
            db=world.db,
            cache=world.cache,
            registry=_registry(),
            settings=Settings(),
            user_id=world.owner,
            conversation_id=world.conversation_id,
            data=ChatTurnRequest(content="stream this", stream=True),
            idempotency_key="s1",
            open_meter=world.open_meter,
            on_first_event=first_events.append,
        )
        assert isinstance(response, Response)
        sent = _events(await _body(response))
        names = [name for name, _ in sent]
        assert names[0] == "start"
        assert names[-1] == "done"
        assert "delta" in names
        assert "".join(d["text"] for n, d in sent if n == "delta") == "Echo: stream this"
        assert len(first_events) == 1

        ((_, message_id, kept),) = world.meters[0].settled
        assert str(message_id) == sent[0][1]["message_id"]  # the placeholder, completed
        assert kept is not None
        assert kept.status_code == 200
        assert [(m.role, m.status, m.content) for m in await world.messages()] == [
            ("user", "complete", "stream this"),
            ("assistant", "complete", "Echo: stream this"),
        ]

        again = await _turn(world, service, content="stream this", key="s1", stream=True)
        assert isinstance(again, Response)
        assert again.headers["replayed"] == "yes"
        replayed = _events(await _body(again))
        assert [name for name, _ in replayed] == ["start", "delta", "done"]
        assert replayed[0] == sent[0]
        assert replayed[-1] == sent[-1]
        assert replayed[1][1]["text"] == "Echo: stream this"
        assert len(world.meters) == 1


async def test_a_replayed_stream_without_text_has_no_delta(world: World) -> None:
    stored = Kept(200, {"start": {"message_id": "m"}, "text": "", "done": {"message_id": "m"}})
    response = _service(world.keys).replay(stored, stream=True)
    assert [name for name, _ in _events(await _body(response))] == ["start", "done"]
