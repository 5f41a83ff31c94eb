"""Every model call of a run is reserved from the user's budget and settled into the
ledger, like a chat turn's; a budget that runs out ends the run (token_budget)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from pydantic import Field
from sqlalchemy import func, select, update

from genai_shared.llm.providers.mock_provider import MockProvider, MockScript, MockTurn
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.types import ToolCall
from production_deployment.agent.registry import Tool, ToolArguments, ToolContext
from production_deployment.chat.models import Message
from production_deployment.usage.models import BudgetReservation, UsageRecord, UserSpend
from production_deployment.users.models import User

PRICED = "openai/gpt-4o-mini"  # priced per token, unlike the mock's own name


class PricedMock(MockProvider):
    """The mock under the name of a provider that charges."""

    name = "openai"


class Nothing(ToolArguments):
    note: str = Field(default="", max_length=10)


async def _spend_the_budget(context: ToolContext, arguments: Nothing) -> str:
    """A tool with a side effect on the budget: nothing is left after it."""
    async with context.db.transaction() as session:
        await session.execute(
            update(User).where(User.id == context.caller.user_id).values(monthly_budget_micro_usd=0)
        )
    return "spent"


@pytest.fixture
def mock() -> MockProvider:
    return PricedMock(MockScript())


@pytest.fixture
def llm_registry(mock: MockProvider) -> ProviderRegistry:
    return ProviderRegistry({"openai": mock})


@pytest.fixture
def extra_tools() -> list[Tool[Any]]:
    return [Tool(name="spend", description="", arguments=Nothing, handler=_spend_the_budget)]


async def _rows(app: Any, model: Any) -> list[Any]:
    async with app.state.db.transaction() as session:
        return list(await session.scalars(select(model)))


async def test_each_model_call_is_reserved_and_settled(
    app: Any, client: httpx.AsyncClient, make_conversation: Any
) -> None:
    conversation = await make_conversation()

    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/agent",
        json={"content": "what is 3 * 4", "model": PRICED},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    ledger = await _rows(app, UsageRecord)
    assert [row.status for row in ledger] == ["complete", "complete"]
    assert all(row.cost_micro_usd > 0 for row in ledger)
    assert await _rows(app, BudgetReservation) == []
    [spend] = await _rows(app, UserSpend)
    assert spend.spent_micro_usd == sum(row.cost_micro_usd for row in ledger)
    assert spend.reserved_micro_usd == 0
    assistant = {m.id for m in await _rows(app, Message) if m.role == "assistant"}
    assert {row.message_id for row in ledger} <= assistant
    assert body["usage"]["input_tokens"] == sum(row.input_tokens for row in ledger)


async def test_an_empty_budget_is_a_402_and_stores_nothing(
    app: Any, client: httpx.AsyncClient, user: Any, make_conversation: Any
) -> None:
    conversation = await make_conversation()
    async with app.state.db.transaction() as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(user.id)).values(monthly_budget_micro_usd=0)
        )

    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/agent",
        json={"content": "what is 3 * 4", "model": PRICED},
    )

    assert response.status_code == 402, response.text
    assert await _rows(app, Message) == []
    async with app.state.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 0


async def test_a_budget_that_runs_out_mid_run_stops_it(
    app: Any, client: httpx.AsyncClient, make_conversation: Any, mock: MockProvider
) -> None:
    mock.script = MockScript(
        turns=[MockTurn(tool_calls=[ToolCall(id="s", name="spend")]), MockTurn(text="Done.")]
    )
    conversation = await make_conversation()

    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/agent",
        json={"content": "go", "model": PRICED},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["stop_reason"] == "token_budget"
    assert len(body["steps"]) == 1
    assert [row.status for row in await _rows(app, UsageRecord)] == ["complete"]
    assert await _rows(app, BudgetReservation) == []
