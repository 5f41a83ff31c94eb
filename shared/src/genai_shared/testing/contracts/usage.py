"""The usage ledger, ``GET /usage``, budgets and the reservation sweeper, through a
metered project's routes and its own tables.

Fixtures a project's conftest provides:

- ``app``, ``client``: the app and a client signed in as its default user, tables created;
  ``user``: that user (its ``id`` a string).
- ``make_conversation()``: a conversation of ``client``'s user, as JSON.
- ``settings_overrides``: the settings the app is built with (``SweeperInTheAppContract``
  overrides it).
- ``expect_error``: from the genai_shared plugin.

The app must build its providers from the ``llm_registry`` fixture (these classes
override it with a priced provider that counts its calls).

Class attributes a subclass sets: ``usage_service`` (the project's ``usage.service``
module), ``sweeper`` (its ``usage.sweeper`` module), and the models ``message_model``,
``user_model``, ``usage_record_model``, ``user_spend_model``,
``budget_reservation_model`` and ``idempotency_key_model``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator
from datetime import timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from genai_shared.db.base import utcnow
from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.types import ChatMessage, ChatRequest, ChatResponse, StreamEvent
from genai_shared.testing.contracts.support import ExpectError
from genai_shared.usage.money import from_micro, to_micro

PRICED = "openai/gpt-4o-mini"  # $0.15 / $0.60 per million tokens
HELD = 250_000  # micro-USD


class CountingProvider(LLMProvider):
    """The mock behind a priced name, counting the calls that reach it."""

    name = "openai"

    def __init__(self, script: MockScript | None = None) -> None:
        self.inner = MockProvider(script)
        self.calls = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        return await self.inner.complete(request)

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        self.calls += 1
        return self.inner.stream(request)


class _Tables:
    usage_service: ClassVar[ModuleType]
    message_model: ClassVar[type[Any]]
    user_model: ClassVar[type[Any]]
    usage_record_model: ClassVar[type[Any]]
    user_spend_model: ClassVar[type[Any]]

    async def ledger(self, app: FastAPI) -> list[Any]:
        """The ledger rows, oldest first."""
        record = self.usage_record_model
        async with app.state.db.sessionmaker() as session:
            query = select(record).order_by(record.created_at, record.attempt)
            return list(await session.scalars(query))

    async def spend(self, app: FastAPI) -> list[Any]:
        async with app.state.db.sessionmaker() as session:
            return list(await session.scalars(select(self.user_spend_model)))

    async def set_budget(self, app: FastAPI, usd: str) -> None:
        """Every user's monthly budget, in USD."""
        async with app.state.db.sessionmaker() as session:
            await session.execute(
                update(self.user_model).values(monthly_budget_micro_usd=to_micro(Decimal(usd)))
            )
            await session.commit()


class _Metered(_Tables):
    @pytest.fixture
    def provider(self) -> CountingProvider:
        return CountingProvider(MockScript(reply=" ".join(["word"] * 200)))

    @pytest.fixture
    def llm_registry(self, provider: CountingProvider) -> ProviderRegistry:
        return ProviderRegistry({"openai": provider}, fallbacks=["mock/echo-1"])

    @staticmethod
    async def chat(client: httpx.AsyncClient, make_conversation: Any, **body: Any) -> Any:
        conversation = await make_conversation()
        path = f"/api/v1/conversations/{conversation['id']}/chat"
        return await client.post(path, json={"content": "hi", "model": PRICED, **body})


class LedgerContract(_Metered):
    """One ledger row per provider call, and the user's spend that sums them."""

    async def test_a_call_is_one_row_and_is_spent(
        self, app: FastAPI, client: httpx.AsyncClient, user: Any, make_conversation: Any
    ) -> None:
        response = await self.chat(client, make_conversation, max_tokens=20)
        assert response.status_code == 201, response.text
        reply = response.json()["assistant_message"]
        (row,) = await self.ledger(app)
        assert (row.status, row.provider, row.model, row.attempt) == (
            "complete",
            "openai",
            "gpt-4o-mini",
            0,
        )
        assert str(row.user_id) == user.id
        assert row.request_id == response.headers["x-request-id"]
        assert str(row.message_id) == reply["id"]
        assert (row.input_tokens, row.output_tokens) == (
            reply["input_tokens"],
            reply["output_tokens"],
        )
        assert row.cost_micro_usd > 0
        (spend,) = await self.spend(app)
        assert (spend.spent_micro_usd, spend.reserved_micro_usd) == (row.cost_micro_usd, 0)

    async def test_a_fallback_writes_a_row_per_attempt(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        provider: CountingProvider,
        make_conversation: Any,
    ) -> None:
        provider.inner.script = MockScript(error=ProviderUnavailable("down", provider="openai"))
        response = await self.chat(client, make_conversation)
        assert response.status_code == 201
        rows = await self.ledger(app)
        assert [(r.provider, r.attempt, r.status, r.error_type) for r in rows] == [
            ("openai", 0, "error", "ProviderUnavailable"),
            ("mock", 1, "complete", None),
        ]
        assert rows[0].cost_micro_usd == 0

    async def test_a_failed_call_is_recorded_and_releases_its_reservation(
        self,
        app: FastAPI,
        llm_registry: ProviderRegistry,
        client: httpx.AsyncClient,
        provider: CountingProvider,
        make_conversation: Any,
    ) -> None:
        llm_registry.fallbacks = []
        provider.inner.script = MockScript(error=ProviderUnavailable("down", provider="openai"))
        response = await self.chat(client, make_conversation)
        assert response.status_code == 502
        (row,) = await self.ledger(app)
        assert (row.status, row.cost_micro_usd) == ("error", 0)
        (spend,) = await self.spend(app)
        assert (spend.spent_micro_usd, spend.reserved_micro_usd) == (0, 0)

    async def test_get_usage_groups_by_day_and_model(
        self, client: httpx.AsyncClient, make_conversation: Any
    ) -> None:
        for _ in range(2):
            await self.chat(client, make_conversation, max_tokens=10)
        body = (await client.get("/api/v1/usage")).json()
        (line,) = body["days"]
        assert (line["provider"], line["model"], line["calls"]) == ("openai", "gpt-4o-mini", 2)
        assert Decimal(line["cost_usd"]) == Decimal(body["budget"]["spent_usd"]) > 0
        assert body["budget"]["budget_usd"] == "5.000000"
        assert body["budget"]["reserved_usd"] == "0.000000"
        assert Decimal(body["budget"]["remaining_usd"]) == 5 - Decimal(line["cost_usd"])


class BudgetContract(_Metered):
    """A call's worst case is reserved before the provider is called."""

    async def test_over_budget_is_402_before_the_provider_is_called(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        provider: CountingProvider,
        make_conversation: Any,
        expect_error: ExpectError,
    ) -> None:
        await self.set_budget(app, "0.0001")  # 100 micro-dollars
        conversation = await make_conversation()
        path = f"/api/v1/conversations/{conversation['id']}/chat"
        response = await client.post(
            path, json={"content": "hi", "model": PRICED, "max_tokens": 1000}
        )
        error = expect_error(response, 402, "BudgetExceeded")
        assert error["details"][0]["budget_usd"] == "0.000100"
        assert provider.calls == 0
        assert (await client.get(f"{path.removesuffix('/chat')}/messages")).json()["items"] == []
        assert await self.ledger(app) == []
        # A smaller call fits; the free mock always does.
        assert (
            await client.post(path, json={"content": "hi", "model": PRICED, "max_tokens": 50})
        ).is_success
        assert (await client.post(path, json={"content": "hi"})).is_success
        metrics = (await client.get("/metrics")).text
        assert "budget_refusals_total 1.0" in metrics

    async def test_streams_are_refused_with_a_status_too(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        provider: CountingProvider,
        make_conversation: Any,
        expect_error: ExpectError,
    ) -> None:
        await self.set_budget(app, "0")
        response = await self.chat(client, make_conversation, stream=True)
        expect_error(response, 402, "BudgetExceeded")
        assert provider.calls == 0

    async def test_concurrent_calls_cannot_overspend(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        provider: CountingProvider,
        make_conversation: Any,
    ) -> None:
        """Budget for K worst-case calls; 3K concurrent streams; at most K reach the provider.

        The provider is slow, so every call is in flight (its reservation held) at once.
        """
        provider.inner.script = MockScript(reply=" ".join(["word"] * 200), latency=0.3)
        k, max_tokens = 3, 50
        worst = self.usage_service.worst_case_micro(
            app.state.llm.fallback_chain(PRICED).targets,
            [ChatMessage(role="user", content="hi")],
            max_tokens,
        )
        await self.set_budget(app, str(from_micro(k * worst)))
        paths = [
            f"/api/v1/conversations/{(await make_conversation())['id']}/chat" for _ in range(3 * k)
        ]
        body = {"content": "hi", "model": PRICED, "max_tokens": max_tokens, "stream": True}
        responses = await asyncio.gather(*(client.post(p, json=body) for p in paths))
        statuses = sorted(r.status_code for r in responses)
        assert 1 <= provider.calls <= k
        assert statuses == [200] * provider.calls + [402] * (3 * k - provider.calls)
        rows = await self.ledger(app)
        assert len(rows) == provider.calls
        assert all(r.status == "complete" for r in rows)
        (spend,) = await self.spend(app)
        assert spend.reserved_micro_usd == 0
        assert spend.spent_micro_usd == sum(r.cost_micro_usd for r in rows)
        assert spend.spent_micro_usd <= k * worst
        message = self.message_model
        async with app.state.db.sessionmaker() as session:
            replies = await session.scalar(
                select(func.count()).select_from(message).where(message.role == "assistant")
            )
        assert replies == provider.calls


class _Swept(_Tables):
    sweeper: ClassVar[ModuleType]
    budget_reservation_model: ClassVar[type[Any]]

    @pytest.fixture
    def user_id(self, user: Any) -> uuid.UUID:
        return uuid.UUID(user.id)

    async def reserve(
        self, app: FastAPI, user_id: uuid.UUID, *, age: timedelta = timedelta(0)
    ) -> Any:
        """A reservation of ``HELD``, made ``age`` ago."""
        held = self.budget_reservation_model
        async with app.state.db.transaction() as session:
            reservation = await self.usage_service.reserve(
                session=session, user_id=user_id, amount_micro_usd=HELD, request_id="req-dead"
            )
            if age:
                await session.execute(
                    update(held).where(held.id == reservation.id).values(created_at=utcnow() - age)
                )
        return reservation

    async def reserved(self, app: FastAPI, user_id: uuid.UUID) -> tuple[int, int, int]:
        """(reserved, spent, reservation rows) for the user this month."""
        period = self.usage_service.period_of(utcnow())
        async with app.state.db.sessionmaker() as session:
            spend = await session.get(self.user_spend_model, (user_id, period))
            rows = await session.scalar(
                select(func.count()).select_from(self.budget_reservation_model)
            )
        assert spend is not None
        return spend.reserved_micro_usd, spend.spent_micro_usd, int(rows or 0)

    def record(self, user_id: uuid.UUID, cost: int) -> Any:
        """A settled ledger row of ``cost`` micro-USD."""
        now = utcnow()
        return self.usage_record_model(
            created_at=now,
            day=now.date(),
            user_id=user_id,
            route="chat",
            provider="openai",
            model="gpt-4o-mini",
            attempt=0,
            input_tokens=10,
            output_tokens=10,
            cost_micro_usd=cost,
            status="complete",
        )

    async def sweep(self, app: FastAPI, timeout_seconds: int) -> int:
        sweep_once = self.sweeper.sweep_once
        return int(
            await sweep_once(
                db=app.state.db, metrics=app.state.metrics, timeout_seconds=timeout_seconds
            )
        )


class SweeperContract(_Swept):
    """Budget held by a call whose process died comes back, once; so do its key claims."""

    idempotency_key_model: ClassVar[type[Any]]

    async def test_a_stale_reservation_is_released_and_logged(
        self, app: FastAPI, user_id: uuid.UUID, caplog: pytest.LogCaptureFixture
    ) -> None:
        await self.reserve(app, user_id, age=timedelta(hours=2))
        assert await self.reserved(app, user_id) == (HELD, 0, 1)
        with caplog.at_level(logging.WARNING, logger=self.sweeper.__name__):
            released = await self.sweep(app, 3600)
        assert released == 1
        assert await self.reserved(app, user_id) == (0, 0, 0)
        assert "req-dead" in caplog.text
        metric = app.state.metrics.registry.get_sample_value("budget_reservations_released_total")
        assert metric == 1

    async def test_a_call_in_flight_is_left_alone(self, app: FastAPI, user_id: uuid.UUID) -> None:
        await self.reserve(app, user_id, age=timedelta(minutes=5))
        assert await self.sweep(app, 3600) == 0
        assert await self.reserved(app, user_id) == (HELD, 0, 1)

    async def test_a_settle_after_the_sweep_does_not_release_twice(
        self, app: FastAPI, user_id: uuid.UUID
    ) -> None:
        """The call was only slow, not dead: it settles after all, and is charged once."""
        reservation = await self.reserve(app, user_id, age=timedelta(hours=2))
        await self.sweep(app, 3600)
        async with app.state.db.transaction() as session:
            await self.usage_service.settle(
                session=session, reservation=reservation, records=[self.record(user_id, 1_000)]
            )
        assert await self.reserved(app, user_id) == (0, 1_000, 0)

    async def test_a_settle_releases_its_own_row(self, app: FastAPI, user_id: uuid.UUID) -> None:
        reservation = await self.reserve(app, user_id)
        async with app.state.db.transaction() as session:
            await self.usage_service.settle(
                session=session, reservation=reservation, records=[self.record(user_id, 1_000)]
            )
        assert await self.reserved(app, user_id) == (0, 1_000, 0)
        assert await self.sweep(app, 60) == 0

    async def test_unfinished_idempotency_claims_and_expired_keys_are_cleared(
        self, app: FastAPI, user_id: uuid.UUID
    ) -> None:
        """A claim whose call never finished would answer 409 until the key expired; keys
        past their expiry would pile up for ever."""
        now = utcnow()
        model = self.idempotency_key_model

        def key(name: str, *, age: timedelta, status: int | None, expired: bool = False) -> Any:
            return model(
                user_id=user_id,
                key=name,
                request_hash="0" * 64,
                response_status=status,
                response_body={} if status else None,
                created_at=now - age,
                expires_at=now - timedelta(seconds=1) if expired else now + timedelta(days=1),
            )

        async with app.state.db.transaction() as session:
            session.add_all(
                [
                    key("dead", age=timedelta(hours=2), status=None),
                    key("running", age=timedelta(minutes=1), status=None),
                    key("answered", age=timedelta(hours=2), status=201),
                    key("expired", age=timedelta(days=2), status=201, expired=True),
                ]
            )
        await self.sweep(app, 3600)
        async with app.state.db.sessionmaker() as session:
            left = set(await session.scalars(select(model.key)))
        assert left == {"running", "answered"}  # and expired keys are purged


class SweeperInTheAppContract(_Swept):
    """Every app process sweeps on its own, from its lifespan."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"budget_sweep_interval_seconds": 0.05, "budget_reservation_timeout_seconds": 60}

    async def test_the_running_app_sweeps_on_its_own(
        self, app: FastAPI, user_id: uuid.UUID
    ) -> None:
        await self.reserve(app, user_id, age=timedelta(minutes=2))
        for _ in range(200):  # hang guard (10 s), not a speed expectation
            if await self.reserved(app, user_id) == (0, 0, 0):
                break
            await asyncio.sleep(0.05)
        assert await self.reserved(app, user_id) == (0, 0, 0)
