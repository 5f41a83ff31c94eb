"""The shared runner on its own (``conftest.Harness``): every cap stops the loop with its
own stop reason, failing tools never fail the turn, every model call is reserved and
settled once, and a step cut short keeps the text it streamed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import Field

from genai_shared.agent.registry import Tool, ToolArguments, ToolContext, ToolFailed
from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript, MockTurn
from genai_shared.llm.types import ChatRequest, ChatResponse, ToolCall
from genai_shared.web.errors import AppError

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


def statuses(run: Any) -> list[str]:
    return [execution.status for execution in run.executions]


# --- caps ---------------------------------------------------------------------------------------


async def test_max_steps(agent: Any, mock: MockProvider, spy: list[ChatRequest]) -> None:
    agent.settings = {"agent_max_steps": 3}
    mock.script = MockScript(turns=[turn(calc(f"{n} + 1", f"c{n}")) for n in range(5)])

    runner, _ = await agent.run()

    run = await agent.stored_run(runner)
    body = runner.response()
    assert body.stop_reason == run.stop_reason == "max_steps"
    assert run.steps == 3
    assert run.tool_calls == 2
    assert statuses(run) == ["ok", "ok", "skipped"]  # the last step's call is not run
    assert [request.tool_choice for request in spy] == ["auto", "auto", "none"]
    assert body.answer.startswith("I stopped before finishing")
    assert body.answer_message_id == run.answer_message_id is not None


async def test_max_tool_calls(agent: Any, mock: MockProvider) -> None:
    agent.settings = {"agent_max_tool_calls": 2}
    mock.script = MockScript(turns=[turn(calc("1+1", "a"), calc("2+2", "b"), calc("3+3", "c"))])

    runner, _ = await agent.run()

    run = await agent.stored_run(runner)
    assert run.stop_reason == "max_tool_calls"
    assert statuses(run) == ["ok", "ok", "skipped"]
    assert run.tool_calls == 2


async def test_max_tool_calls_can_be_lowered_by_the_request(agent: Any, mock: MockProvider) -> None:
    mock.script = MockScript(turns=[turn(calc("1+1", "a"), calc("2+2", "b"))])

    runner, _ = await agent.run(max_tool_calls=1)

    run = await agent.stored_run(runner)
    assert run.stop_reason == "max_tool_calls"
    assert statuses(run) == ["ok", "skipped"]


async def test_repeated_identical_call(agent: Any, mock: MockProvider) -> None:
    same = ToolCall(id="again", name="calculator", arguments='{ "expression" : "1+1" }')
    mock.script = MockScript(turns=[turn(calc("1+1", "first")), turn(same), ANSWER])

    runner, _ = await agent.run()

    run = await agent.stored_run(runner)
    assert run.stop_reason == "repeated_call"
    assert statuses(run) == ["ok", "skipped"]
    assert run.steps == 2


async def test_wall_clock_cuts_a_tool(agent: Any, mock: MockProvider) -> None:
    agent.settings = {"agent_timeout_seconds": 0.5}
    mock.script = MockScript(turns=[turn(ToolCall(id="h", name="hangs_long")), ANSWER])

    runner, _ = await agent.run()

    run = await agent.stored_run(runner)
    assert run.stop_reason == "timeout"
    assert statuses(run) == ["timeout"]


async def test_wall_clock_cuts_the_model(agent: Any, mock: MockProvider) -> None:
    agent.settings = {"agent_timeout_seconds": 0.3}
    mock.script = MockScript(latency=30)

    runner, _ = await agent.run()

    run = await agent.stored_run(runner)
    assert run.stop_reason == "timeout"
    assert run.steps == 1
    assert run.executions == []
    assert agent.ledger.held == 0  # the cut call was settled
    assert [call.status for call in agent.ledger.settled] == ["cancelled"]


async def test_token_cap(agent: Any, mock: MockProvider) -> None:
    """The first call fits; its tool's long result leaves no room for the next one."""
    agent.settings = {"agent_max_tokens": 2500}
    mock.script = MockScript(turns=[turn(ToolCall(id="l", name="long_result")), ANSWER])

    runner, _ = await agent.run()

    run = await agent.stored_run(runner)
    assert run.stop_reason == "token_budget"
    assert run.steps == 1
    assert statuses(run) == ["ok"]
    assert run.input_tokens + run.output_tokens <= 2500


async def test_failing_tools_and_bad_arguments_go_back_to_the_model(
    agent: Any, mock: MockProvider, spy: list[ChatRequest]
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

    runner, _ = await agent.run()

    run = await agent.stored_run(runner)
    assert run.stop_reason == "answer"
    assert runner.response().answer == "Done."
    assert statuses(run) == ["invalid_arguments", "invalid_arguments", "error", "timeout", "error"]
    results = {
        m.tool_call_id: json.loads(m.content or "") for m in spy[1].messages if m.tool_call_id
    }
    assert "expression: Field required" in results["bad"]["error"]
    assert results["f"] == {"error": "the backend said no"}
    assert "did not finish" in results["h"]["error"]
    assert results["zero"] == {"error": "division by zero"}


# --- the budget -------------------------------------------------------------------------------


async def test_each_model_call_is_reserved_and_settled_once(agent: Any, mock: MockProvider) -> None:
    mock.script = MockScript(turns=[turn(calc("1+1", "a")), ANSWER])

    await agent.run()

    assert len(agent.ledger.reserved) == 2
    assert agent.ledger.held == 0
    assert [call.status for call in agent.ledger.settled] == ["complete", "complete"]
    assert all(call.message_id is not None for call in agent.ledger.settled)
    assert agent.cache.invalidated  # the conversation list changed


async def test_a_budget_refused_at_the_start_stores_nothing(agent: Any) -> None:
    agent.ledger.calls_left = 0
    conversation_id = await agent.conversation()

    with pytest.raises(agent.budget_error):  # the project's own error (its 402), re-raised
        await agent.start(conversation_id=conversation_id)

    assert agent.metrics.budget_refusals.count == 1
    assert await agent.messages(conversation_id) == []  # the user's message rolled back


async def test_a_budget_that_runs_out_mid_run_stops_it(agent: Any, mock: MockProvider) -> None:
    agent.ledger.calls_left = 1
    mock.script = MockScript(turns=[turn(calc("1+1", "a")), ANSWER])

    runner, _ = await agent.run()

    run = await agent.stored_run(runner)
    assert run.stop_reason == "token_budget"
    assert run.steps == 1
    assert agent.metrics.budget_refusals.count == 1
    assert agent.ledger.held == 0


# --- provider failures ------------------------------------------------------------------------


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


async def test_a_provider_failure_at_once_is_an_app_error(agent: Any, mock: MockProvider) -> None:
    mock.complete = _FailsOnCall(mock, 1)  # type: ignore[method-assign]
    runner = await agent.start("what is 1 + 1")

    with pytest.raises(AppError) as raised:
        async for _ in runner.events():
            pass

    assert raised.value.status_code == 502
    run = await agent.stored_run(runner)
    assert run.stop_reason == "error"
    assert run.error_type == "ProviderUnavailable"
    assert [call.status for call in agent.ledger.settled] == ["error"]
    assert agent.ledger.held == 0


async def test_a_provider_failure_mid_run_ends_it_with_error(
    agent: Any, mock: MockProvider
) -> None:
    mock.complete = _FailsOnCall(mock, 2)  # type: ignore[method-assign]

    runner, events = await agent.run("what is 1 + 1")

    run = await agent.stored_run(runner)
    body = runner.response()
    assert body.stop_reason == "error"
    assert body.error is not None
    assert body.error["type"] == "ProviderError"
    assert [event.name for event in events][-2:] == ["error", "done"]
    assert statuses(run) == ["ok"]
    assert run.steps == 2
    assert [call.status for call in agent.ledger.settled] == ["complete", "error"]


# --- a step cut short keeps what it streamed -----------------------------------------------------


async def test_a_stream_cut_mid_step_keeps_the_text_streamed_so_far(
    agent: Any, mock: MockProvider
) -> None:
    """The client leaves after a few words: the partial reply is stored with those words,
    and the call is settled with an output estimate made from them."""
    mock.script = MockScript(reply=" ".join(["word"] * 50), chunk_delay=0.01, use_tools=False)
    runner = await agent.start("talk for a while", stream=True)
    events = runner.events()
    streamed = []
    async for event in events:
        if event.name == "delta":
            streamed.append(event.data["text"])
            if len(streamed) == 5:
                break
    await events.aclose()

    text = "".join(streamed)
    assert text.startswith("word word")
    run = await agent.stored_run(runner)
    assert run.stop_reason == "cancelled"
    [settled] = agent.ledger.settled
    assert settled.status == "cancelled"
    assert settled.text == text
    assert settled.estimated
    assert settled.output_tokens > 0
    assert runner.steps[0].text == text
    reply = next(m for m in await agent.messages(run.conversation_id) if m.role == "assistant")
    assert (reply.status, reply.content) == ("cancelled", text)
    assert reply.id == settled.message_id


async def test_a_stream_that_fails_mid_step_keeps_the_text_streamed_so_far(
    agent: Any, mock: MockProvider
) -> None:
    mock.script = MockScript(reply="one two three four five", error_after_chunks=3, use_tools=False)

    runner, events = await agent.run("talk", stream=True)

    streamed = "".join(event.data["text"] for event in events if event.name == "delta")
    assert streamed == "one two three "
    assert runner.response().stop_reason == "error"
    [settled] = agent.ledger.settled
    assert (settled.status, settled.text) == ("error", streamed)
    assert settled.output_tokens > 0
