"""The usage ledger, GET /usage, and budgets: reserved before the call, settled after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.types import ChatMessage, ChatRequest, ChatResponse, StreamEvent
from production_deployment.chat.models import Message
from production_deployment.core.money import from_micro
from production_deployment.usage import service as usage_service
from production_deployment.usage.models import UsageRecord, UserSpend

PRICED = "openai/gpt-4o-mini"  # $0.15 / $0.60 per million tokens


class CountingProvider(LLMProvider):
    """The mock behind a priced name, counting the calls that reach it."""

    name = "openai"

    def __init__(self, script: MockScript | None = None) -> None:
        self.inner = MockProvider(script)
        self.calls = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        return await self.inner.complete(request)

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.calls += 1
        return self.inner.stream(request)


@pytest.fixture
def provider() -> CountingProvider:
    return CountingProvider(MockScript(reply=" ".join(["word"] * 200)))


@pytest.fixture
def llm_registry(provider) -> ProviderRegistry:
    return ProviderRegistry({"openai": provider}, fallbacks=["mock/echo-1"])


async def _ledger(app) -> list[UsageRecord]:
    async with app.state.db.sessionmaker() as session:
        query = select(UsageRecord).order_by(UsageRecord.created_at, UsageRecord.attempt)
        return list(await session.scalars(query))


async def _spend(app) -> list[UserSpend]:
    async with app.state.db.sessionmaker() as session:
        return list(await session.scalars(select(UserSpend)))


async def _chat(client, make_conversation, **body):
    conversation = await make_conversation()
    path = f"/api/v1/conversations/{conversation['id']}/chat"
    return await client.post(path, json={"content": "hi", "model": PRICED, **body})


class TestLedger:
    async def test_a_call_is_one_row_and_is_spent(self, app, client, user, make_conversation):
        response = await _chat(client, make_conversation, max_tokens=20)
        assert response.status_code == 201, response.text
        reply = response.json()["assistant_message"]
        (row,) = await _ledger(app)
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
        (spend,) = await _spend(app)
        assert (spend.spent_micro_usd, spend.reserved_micro_usd) == (row.cost_micro_usd, 0)

    async def test_a_fallback_writes_a_row_per_attempt(
        self, app, client, provider, make_conversation
    ):
        provider.inner.script = MockScript(error=ProviderUnavailable("down", provider="openai"))
        response = await _chat(client, make_conversation)
        assert response.status_code == 201
        rows = await _ledger(app)
        assert [(r.provider, r.attempt, r.status, r.error_type) for r in rows] == [
            ("openai", 0, "error", "ProviderUnavailable"),
            ("mock", 1, "complete", None),
        ]
        assert rows[0].cost_micro_usd == 0

    async def test_a_failed_call_is_recorded_and_releases_its_reservation(
        self, app, llm_registry, client, provider, make_conversation
    ):
        llm_registry.fallbacks = []
        provider.inner.script = MockScript(error=ProviderUnavailable("down", provider="openai"))
        response = await _chat(client, make_conversation)
        assert response.status_code == 502
        (row,) = await _ledger(app)
        assert (row.status, row.cost_micro_usd) == ("error", 0)
        (spend,) = await _spend(app)
        assert (spend.spent_micro_usd, spend.reserved_micro_usd) == (0, 0)

    async def test_get_usage_groups_by_day_and_model(self, client, make_conversation):
        for _ in range(2):
            await _chat(client, make_conversation, max_tokens=10)
        body = (await client.get("/api/v1/usage")).json()
        (line,) = body["days"]
        assert (line["provider"], line["model"], line["calls"]) == ("openai", "gpt-4o-mini", 2)
        assert Decimal(line["cost_usd"]) == Decimal(body["budget"]["spent_usd"]) > 0
        assert body["budget"]["budget_usd"] == "5.000000"
        assert body["budget"]["reserved_usd"] == "0.000000"
        assert Decimal(body["budget"]["remaining_usd"]) == 5 - Decimal(line["cost_usd"])


class TestBudget:
    async def test_over_budget_is_402_before_the_provider_is_called(
        self, app, client, user, provider, make_conversation, expect_error
    ):
        await set_budget(app, user, "0.0001")  # 100 micro-dollars
        conversation = await make_conversation()
        path = f"/api/v1/conversations/{conversation['id']}/chat"
        response = await client.post(
            path, json={"content": "hi", "model": PRICED, "max_tokens": 1000}
        )
        error = expect_error(response, 402, "BudgetExceeded")
        assert error["details"][0]["budget_usd"] == "0.000100"
        assert provider.calls == 0
        assert (await client.get(f"{path.removesuffix('/chat')}/messages")).json()["items"] == []
        assert await _ledger(app) == []
        # A smaller call fits; the free mock always does.
        assert (
            await client.post(path, json={"content": "hi", "model": PRICED, "max_tokens": 50})
        ).is_success
        assert (await client.post(path, json={"content": "hi"})).is_success
        metrics = (await client.get("/metrics")).text
        assert "budget_refusals_total 1.0" in metrics

    async def test_streams_are_refused_with_a_status_too(
        self, app, client, user, provider, make_conversation, expect_error
    ):
        await set_budget(app, user, "0")
        response = await _chat(client, make_conversation, stream=True)
        expect_error(response, 402, "BudgetExceeded")
        assert provider.calls == 0

    async def test_concurrent_calls_cannot_overspend(
        self, app, client, user, provider, make_conversation
    ):
        """Budget for K worst-case calls; 3K concurrent streams; at most K reach the provider.

        The provider is slow, so every call is in flight (its reservation held) at once.
        """
        provider.inner.script = MockScript(reply=" ".join(["word"] * 200), latency=0.3)
        k, max_tokens = 3, 50
        worst = usage_service.worst_case_micro(
            app.state.llm.fallback_chain(PRICED).targets,
            [ChatMessage(role="user", content="hi")],
            max_tokens,
        )
        await set_budget(app, user, str(from_micro(k * worst)))
        paths = [
            f"/api/v1/conversations/{(await make_conversation())['id']}/chat" for _ in range(3 * k)
        ]
        body = {"content": "hi", "model": PRICED, "max_tokens": max_tokens, "stream": True}
        responses = await asyncio.gather(*(client.post(p, json=body) for p in paths))
        statuses = sorted(r.status_code for r in responses)
        assert 1 <= provider.calls <= k
        assert statuses == [200] * provider.calls + [402] * (3 * k - provider.calls)
        rows = await _ledger(app)
        assert len(rows) == provider.calls
        assert all(r.status == "complete" for r in rows)
        (spend,) = await _spend(app)
        assert spend.reserved_micro_usd == 0
        assert spend.spent_micro_usd == sum(r.cost_micro_usd for r in rows)
        assert spend.spent_micro_usd <= k * worst
        async with app.state.db.sessionmaker() as session:
            replies = await session.scalar(
                select(func.count()).select_from(Message).where(Message.role == "assistant")
            )
        assert replies == provider.calls


async def set_budget(app, user, usd: str) -> None:
    from sqlalchemy import update

    from production_deployment.core.money import to_micro
    from production_deployment.users.models import User

    async with app.state.db.sessionmaker() as session:
        await session.execute(update(User).values(monthly_budget_micro_usd=to_micro(Decimal(usd))))
        await session.commit()
