"""Every cap stops the loop with its own stop reason; failing tools never fail the turn."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from pydantic import Field
from sqlalchemy import func, select

from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript, MockTurn
from genai_shared.llm.types import ChatRequest, ChatResponse, ToolCall
from production_deployment.agent.registry import Tool, ToolArguments, ToolContext, ToolFailed
from production_deployment.usage.models import BudgetReservation, UsageRecord

Ask = Any
ANSWER = MockTurn(text="Done.")


class Anything(ToolArguments):
    text: str = Field(default="", max_length=50)


def calc(expression: str, call_id: str) -> ToolCall:
    return ToolCall(id=call_id, name="calculator", arguments=json.dumps({"expression": expression}))


def turn(*calls: ToolCall) -> MockTurn:
    return MockTurn(tool_calls=list(calls))


def tool(name: str, handler: Any, **options: Any) -> Tool[Anything]:
    return Tool(name=name, description=name, arguments=Anything, handler=handler, **options)


async def _fail(context: ToolContext, arguments: Anything) -> None:
    raise ToolFailed("the backend said no")


async def _hang(context: ToolContext, arguments: Anything) -> None:
    await asyncio.Event().wait()


async def _long(context: ToolContext, arguments: Anything) -> str:
    return "word " * 2400  # about 2,400 tokens


@pytest.fixture
def extra_tools() -> list[Tool[Any]]:
    return [
        tool("fails", _fail),
        tool("hangs", _hang, timeout_seconds=0.05),
        tool("hangs_long", _hang, timeout_seconds=60),
        tool("long_result", _long),
    ]


@pytest.fixture
def spy(mock: MockProvider) -> list[ChatRequest]:
    """Every request the model gets, in order."""
    seen: list[ChatRequest] = []
    original = mock.complete

    async def complete(request: ChatRequest) -> ChatResponse:
        seen.append(request)
        return await original(request)

    mock.complete = complete  # type: ignore[method-assign]
    return seen


async def agent_run(
    client: httpx.AsyncClient,
    ask: Ask,
    make_conversation: Any,
    content: str = "Go.",
    **body: Any,
) -> Any:
    conversation = await make_conversation()
    response = await ask(conversation["id"], content, **body)
    assert response.status_code == 201, response.text
    result = response.json()
    detail = await client.get(f"/api/v1/agent-runs/{result['run_id']}")
    assert detail.status_code == 200
    return result, detail.json()


def statuses(detail: Any) -> list[str]:
    return [execution["status"] for execution in detail["executions"]]


@pytest.mark.parametrize("agent_overrides", [{"agent_max_steps": 3}])
async def test_max_steps(
    client: httpx.AsyncClient,
    ask: Ask,
    make_conversation: Any,
    mock: MockProvider,
    spy: list[ChatRequest],
) -> None:
    mock.script = MockScript(turns=[turn(calc(f"{n} + 1", f"c{n}")) for n in range(5)])

    body, run = await agent_run(client, ask, make_conversation)

    assert body["stop_reason"] == run["stop_reason"] == "max_steps"
    assert run["steps"] == 3
    assert run["tool_calls"] == 2
    assert statuses(run) == ["ok", "ok", "skipped"]  # the last step's call is not run
    assert [request.tool_choice for request in spy] == ["auto", "auto", "none"]
    assert body["answer"].startswith("I stopped before finishing")
    assert body["answer_message_id"] == run["answer_message_id"] is not None


@pytest.mark.parametrize("agent_overrides", [{"agent_max_tool_calls": 2}])
async def test_max_tool_calls(
    client: httpx.AsyncClient, ask: Ask, make_conversation: Any, mock: MockProvider
) -> None:
    mock.script = MockScript(turns=[turn(calc("1+1", "a"), calc("2+2", "b"), calc("3+3", "c"))])

    body, run = await agent_run(client, ask, make_conversation)

    assert body["stop_reason"] == "max_tool_calls"
    assert statuses(run) == ["ok", "ok", "skipped"]
    assert run["tool_calls"] == 2


async def test_max_tool_calls_can_be_lowered_by_the_request(
    client: httpx.AsyncClient, ask: Ask, make_conversation: Any, mock: MockProvider
) -> None:
    mock.script = MockScript(turns=[turn(calc("1+1", "a"), calc("2+2", "b"))])

    body, run = await agent_run(client, ask, make_conversation, max_tool_calls=1)

    assert body["stop_reason"] == "max_tool_calls"
    assert statuses(run) == ["ok", "skipped"]


async def test_repeated_identical_call(
    client: httpx.AsyncClient, ask: Ask, make_conversation: Any, mock: MockProvider
) -> None:
    same = ToolCall(id="again", name="calculator", arguments='{ "expression" : "1+1" }')
    mock.script = MockScript(turns=[turn(calc("1+1", "first")), turn(same), ANSWER])

    body, run = await agent_run(client, ask, make_conversation)

    assert body["stop_reason"] == "repeated_call"
    assert statuses(run) == ["ok", "skipped"]
    assert run["steps"] == 2


@pytest.mark.parametrize("agent_overrides", [{"agent_timeout_seconds": 0.5}])
async def test_wall_clock_cuts_a_tool(
    client: httpx.AsyncClient, ask: Ask, make_conversation: Any, mock: MockProvider
) -> None:
    mock.script = MockScript(turns=[turn(ToolCall(id="h", name="hangs_long")), ANSWER])

    body, run = await agent_run(client, ask, make_conversation)

    assert body["stop_reason"] == "timeout"
    assert statuses(run) == ["timeout"]


@pytest.mark.parametrize("agent_overrides", [{"agent_timeout_seconds": 0.3}])
async def test_wall_clock_cuts_the_model(
    app: Any, client: httpx.AsyncClient, ask: Ask, make_conversation: Any, mock: MockProvider
) -> None:
    mock.script = MockScript(latency=30)

    body, run = await agent_run(client, ask, make_conversation)

    assert body["stop_reason"] == "timeout"
    assert run["steps"] == 1
    assert run["executions"] == []
    assert await ledger(app) == (0, ["cancelled"])  # the cut call was settled


@pytest.mark.parametrize("agent_overrides", [{"agent_max_tokens": 2500}])
async def test_token_cap(
    client: httpx.AsyncClient, ask: Ask, make_conversation: Any, mock: MockProvider
) -> None:
    """The first call fits; its tool's long result leaves no room for the next one."""
    mock.script = MockScript(turns=[turn(ToolCall(id="l", name="long_result")), ANSWER])

    body, run = await agent_run(client, ask, make_conversation)

    assert body["stop_reason"] == "token_budget"
    assert run["steps"] == 1
    assert statuses(run) == ["ok"]
    assert run["input_tokens"] + run["output_tokens"] <= 2500


async def test_failing_tools_and_bad_arguments_go_back_to_the_model(
    client: httpx.AsyncClient,
    ask: Ask,
    make_conversation: Any,
    mock: MockProvider,
    spy: list[ChatRequest],
) -> None:
    mock.script = MockScript(
        turns=[
            turn(
                ToolCall(id="bad", name="calculator", arguments='{"expr": "1"}'),
                ToolCall(id="broken", name="calculator", arguments="{not json"),
                ToolCall(id="f", name="fails"),
                ToolCall(id="h", name="hangs"),
                calc("1/0", "zero"),
            ),
            ANSWER,
        ]
    )

    body, run = await agent_run(client, ask, make_conversation)

    assert body["stop_reason"] == "answer"
    assert body["answer"] == "Done."
    assert statuses(run) == ["invalid_arguments", "invalid_arguments", "error", "timeout", "error"]
    results = {
        m.tool_call_id: json.loads(m.content or "") for m in spy[1].messages if m.tool_call_id
    }
    assert "expression: Field required" in results["bad"]["error"]
    assert results["f"] == {"error": "the backend said no"}
    assert "did not finish" in results["h"]["error"]
    assert results["zero"] == {"error": "division by zero"}


class _FailsOnCall:
    """Wraps the mock: its ``n``-th call fails like a provider outage."""

    def __init__(self, mock: MockProvider, n: int) -> None:
        self.mock, self.n, self.calls = mock, n, 0
        self.original = mock.complete

    async def __call__(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        if self.calls == self.n:
            raise ProviderUnavailable("upstream is down", provider="mock")
        return await self.original(request)


async def test_a_provider_failure_at_once_is_an_http_error(
    app: Any, client: httpx.AsyncClient, ask: Ask, make_conversation: Any, mock: MockProvider
) -> None:
    mock.complete = _FailsOnCall(mock, 1)  # type: ignore[method-assign]
    conversation = await make_conversation()

    response = await ask(conversation["id"], "what is 1 + 1")

    assert response.status_code == 502, response.text
    runs = (await client.get(f"/api/v1/conversations/{conversation['id']}/agent-runs")).json()
    [stored] = runs["items"]
    assert stored["stop_reason"] == "error"
    assert stored["error_type"] == "ProviderUnavailable"
    assert await ledger(app) == (0, ["error"])


async def test_a_provider_failure_mid_run_ends_it_with_error(
    app: Any, client: httpx.AsyncClient, ask: Ask, make_conversation: Any, mock: MockProvider
) -> None:
    mock.complete = _FailsOnCall(mock, 2)  # type: ignore[method-assign]

    body, run = await agent_run(client, ask, make_conversation, content="what is 1 + 1")

    assert body["stop_reason"] == "error"
    assert body["error"]["type"] == "ProviderError"
    assert statuses(run) == ["ok"]
    assert run["steps"] == 2
    assert await ledger(app) == (0, ["complete", "error"])  # one row per model call


async def ledger(app: Any) -> tuple[int, list[str]]:
    """Reservations still held, and the ledger rows' statuses in call order."""
    async with app.state.db.transaction() as session:
        held = await session.scalar(select(func.count()).select_from(BudgetReservation))
        rows = await session.scalars(select(UsageRecord).order_by(UsageRecord.created_at))
        return int(held or 0), [row.status for row in rows]
