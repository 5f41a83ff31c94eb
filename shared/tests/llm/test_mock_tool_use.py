"""The offline mock's tool use: scripted turns, the rule-based calls, the answer that
quotes tool results, whole and streamed, and a whole agent loop without a network."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from genai_shared.llm.calls import CallRecord
from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.fallback import FallbackChain, Target
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript, MockTurn
from genai_shared.llm.providers.mock_tool_use import (
    QUOTE_LIMIT,
    answer_from_results,
    arithmetic_in,
    planned_tool_calls,
)
from genai_shared.llm.turn_stream import stream_turn
from genai_shared.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolSpec,
)
from genai_shared.testing.fake_upstream_fixtures import Drain

SEARCH = ToolSpec(
    name="search_documents",
    parameters={
        "type": "object",
        "properties": {"k": {"type": "integer"}, "query": {"type": "string"}},
        "required": ["query"],
    },
)
CALCULATOR = ToolSpec(
    name="calculator",
    parameters={"type": "object", "properties": {"expr": {"type": "string"}}},
)
SQL = ToolSpec(name="run_sql", parameters={"type": "object", "properties": {}})
TOOLS = [SEARCH, CALCULATOR, SQL]


def ask(
    text: str, *, tools: list[ToolSpec] | None = TOOLS, tool_choice: ToolChoice | None = None
) -> ChatRequest:
    return ChatRequest(
        model="echo-1",
        messages=[ChatMessage(role="user", content=text)],
        tools=tools,
        tool_choice=tool_choice,
    )


def calls_of(request: ChatRequest) -> list[tuple[str, dict[str, str]]]:
    return [(c.name, json.loads(c.arguments)) for c in planned_tool_calls(request)]


class TestArithmetic:
    @pytest.mark.parametrize(
        ("text", "expression"),
        [
            ("What is 12 * 7?", "12 * 7"),
            ("what is (2 + 3) * 4 please", "(2 + 3) * 4"),
            ("how much is 2^10", "2**10"),
            ("compute 7 \u00d7 6 and 8 \u00f7 2", "7 * 6"),
            ("the total is 19.5 + 0.25", "19.5 + 0.25"),
            ("(1+2", "1+2"),
            ("On 2024-05-01 we sold 3 units", None),
            ("What is uv?", None),
            ("version 3 of the handbook", None),
        ],
    )
    def test_found(self, text: str, expression: str | None) -> None:
        assert arithmetic_in(text) == expression


class TestRules:
    def test_a_question_searches_the_documents(self) -> None:
        assert calls_of(ask("What does the handbook say about uv?")) == [
            ("search_documents", {"query": "What does the handbook say about uv?"})
        ]

    def test_bare_arithmetic_only_calculates(self) -> None:
        # The calculator's only string parameter is `expr`: that is where it goes.
        assert calls_of(ask("What is (12 + 30) * 2?")) == [
            ("calculator", {"expr": "(12 + 30) * 2"})
        ]

    def test_both_at_once(self) -> None:
        question = "What is the VAT rate in the handbook, and what is 120 * 0.2?"

        assert calls_of(ask(question)) == [
            ("search_documents", {"query": question}),
            ("calculator", {"expr": "120 * 0.2"}),
        ]

    def test_arithmetic_without_a_calculator_is_a_search(self) -> None:
        assert calls_of(ask("What is 12 * 7?", tools=[SEARCH])) == [
            ("search_documents", {"query": "What is 12 * 7?"})
        ]

    def test_no_matching_tool_no_call(self) -> None:
        assert calls_of(ask("What does the handbook say?", tools=[SQL])) == []

    def test_required_calls_the_first_tool_when_no_rule_matches(self) -> None:
        assert calls_of(ask("hello", tools=[SQL], tool_choice="required")) == [
            ("run_sql", {"query": "hello"})
        ]

    def test_none_never_calls(self) -> None:
        assert calls_of(ask("What is 12 * 7?", tool_choice="none")) == []

    def test_only_after_the_users_question(self) -> None:
        request = ChatRequest(
            model="echo-1",
            messages=[
                ChatMessage(role="user", content="What is 2 + 2?"),
                ChatMessage(role="assistant", content="4"),
            ],
            tools=TOOLS,
        )

        assert planned_tool_calls(request) == []

    def test_ids_are_deterministic_and_differ_per_request(self) -> None:
        question = "What is the VAT rate, and what is 120 * 0.2?"
        first, again = planned_tool_calls(ask(question)), planned_tool_calls(ask(question))
        other = planned_tool_calls(ask("What is the VAT rate?"))

        assert first == again
        assert len({c.id for c in first}) == 2
        assert first[0].id != other[0].id


class TestAnswerFromResults:
    def test_quotes_each_result_with_its_markers(self) -> None:
        answer = answer_from_results(
            [
                ("search_documents", "[1] uv pins versions in uv.lock.\n[2] Use `uv add`."),
                ("calculator", "84"),
            ]
        )

        assert answer == (
            "Based on search_documents: [1] uv pins versions in uv.lock. [2] Use `uv add`.\n"
            "Based on calculator: 84"
        )

    def test_a_long_result_is_clipped_and_keeps_every_marker(self) -> None:
        passages = " ".join(f"[{i}] " + "word " * 40 for i in range(1, 6))

        answer = answer_from_results([("search_documents", passages)])

        assert len(answer) < len(passages)
        assert len(answer) < QUOTE_LIMIT + 100
        assert all(f"[{i}]" in answer for i in range(1, 6))
        assert "(see also" in answer


class TestScriptedTurns:
    async def test_turns_in_order_then_the_rules(self) -> None:
        call = ToolCall(id="call_1", name="run_sql", arguments='{"sql": "select 1"}')
        provider = MockProvider(
            MockScript(turns=[MockTurn(tool_calls=[call]), MockTurn(text="One row [1].")])
        )

        first = await provider.complete(ask("count the users"))
        second = await provider.complete(ask("count the users"))
        third = await provider.complete(ask("What is 1 + 1?"))

        assert (first.content, first.tool_calls, first.finish_reason) == ("", [call], "tool_calls")
        assert (second.content, second.tool_calls, second.finish_reason) == (
            "One row [1].",
            [],
            "stop",
        )
        assert [c.name for c in third.tool_calls] == ["calculator"]

    async def test_failed_calls_do_not_use_up_a_turn(self) -> None:
        provider = MockProvider(
            MockScript(
                turns=[MockTurn(text="scripted")],
                error=ProviderUnavailable("down", provider="mock"),
                fail_times=1,
            )
        )

        with pytest.raises(ProviderUnavailable):
            await provider.complete(ask("hi"))

        assert (await provider.complete(ask("hi"))).content == "scripted"

    async def test_text_and_calls_streamed(self, drain: Drain) -> None:
        calls = [
            ToolCall(id="a", name="search_documents", arguments='{"query": "uv lock files"}'),
            ToolCall(id="b", name="calculator", arguments='{"expr": "6*7"}'),
        ]
        provider = MockProvider(MockScript(turns=[MockTurn("Let me check.", calls)]))

        result = await drain(provider.stream(ask("anything")))

        assert result.texts == ["Let ", "me ", "check."]
        assert result.end.tool_calls == calls
        assert result.end.finish_reason == "tool_calls"
        assert result.streamed_tool_calls == calls
        assert result.tool_deltas[0] == ToolCallDelta(index=0, id="a", name="search_documents")
        assert len([d for d in result.tool_deltas if d.index == 0 and d.arguments]) > 1

    async def test_a_stream_can_break_inside_the_calls(self, drain: Drain) -> None:
        call = ToolCall(id="a", name="search_documents", arguments='{"query": "a long query"}')
        provider = MockProvider(
            MockScript(turns=[MockTurn(tool_calls=[call])], error_after_chunks=2)
        )

        result = await drain(provider.stream(ask("anything")))

        assert isinstance(result.error, ProviderUnavailable)
        assert len(result.tool_deltas) == 2
        assert result.ends == []


class TestRuleBasedReplies:
    async def test_stream_and_complete_agree(self, drain: Drain) -> None:
        request = ask("What is the VAT rate, and what is 120 * 0.2?")

        whole = await MockProvider().complete(request)
        streamed = await drain(MockProvider().stream(request))

        assert whole.finish_reason == streamed.end.finish_reason == "tool_calls"
        assert whole.tool_calls == streamed.end.tool_calls == streamed.streamed_tool_calls
        assert (whole.usage, whole.request_id) == (streamed.end.usage, streamed.end.request_id)
        assert whole.usage.output_tokens > 0
        assert (whole.content, streamed.texts) == ("", [])

    async def test_use_tools_off_echoes(self) -> None:
        response = await MockProvider(MockScript(use_tools=False)).complete(ask("What is 2 + 2?"))

        assert (response.content, response.tool_calls) == ("Echo: What is 2 + 2?", [])

    async def test_no_tools_offered_echoes(self) -> None:
        response = await MockProvider().complete(ask("What is 2 + 2?", tools=None))

        assert response.content == "Echo: What is 2 + 2?"


def run_tool(call: ToolCall) -> str:
    """Stand-ins for project 04's tools: a cited search result and a calculator."""
    arguments = json.loads(call.arguments)
    if call.name == "search_documents":
        return f"[1] The VAT rate is 20% (handbook, p. 4). Query: {arguments['query']}"
    return {"120 * 0.2": "24"}[arguments["expr"]]


async def _step(
    provider: MockProvider, request: ChatRequest, drain: Drain, streamed: bool
) -> ChatResponse:
    if not streamed:
        return await provider.complete(request)
    result = await drain(provider.stream(request))
    return ChatResponse(
        content=result.text,
        finish_reason=result.end.finish_reason,
        usage=result.end.usage,
        provider="mock",
        model=result.end.model,
        tool_calls=result.end.tool_calls,
    )


@pytest.mark.parametrize("streamed", [False, True])
async def test_an_agent_loop_runs_offline(streamed: bool, drain: Drain) -> None:
    """Question -> tool calls -> results stored as messages -> a cited answer."""
    provider = MockProvider()
    messages = [ChatMessage(role="user", content="What is the VAT rate, and what is 120 * 0.2?")]

    for _ in range(3):
        reply = await _step(
            provider, ChatRequest(model="echo-1", messages=messages, tools=TOOLS), drain, streamed
        )
        messages.append(
            ChatMessage(
                role="assistant", content=reply.content or None, tool_calls=reply.tool_calls or None
            )
        )
        if not reply.tool_calls:
            break
        messages.extend(
            ChatMessage(role="tool", tool_call_id=call.id, content=run_tool(call))
            for call in reply.tool_calls
        )

    assert [m.role for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]
    answer = messages[-1].content or ""
    assert "[1] The VAT rate is 20%" in answer
    assert "Based on calculator: 24" in answer


async def test_the_chat_turn_stream_passes_over_tool_call_deltas() -> None:
    """A consumer that knows only text deltas (the chat turn's SSE) still ends properly."""
    call = ToolCall(id="a", name="search_documents", arguments='{"query": "uv"}')
    provider = MockProvider(MockScript(turns=[MockTurn("Looking.", [call])]))
    request = ask("anything")
    records: list[CallRecord] = []

    async def on_end(record: CallRecord) -> SimpleNamespace:
        records.append(record)
        return SimpleNamespace(id="m1", cost_usd=0, provider="mock", model="echo-1")

    stream = FallbackChain([Target(provider, "echo-1")]).stream(request)
    first = await anext(stream)
    chunks = [
        chunk
        async for chunk in stream_turn(
            stream, first, start={"message_id": "m1"}, on_end=on_end, prompt=request.messages
        )
    ]

    names = [chunk.decode().split("\n")[0].removeprefix("event: ") for chunk in chunks]
    assert names == ["start", "delta", "done"]
    [record] = records
    assert (record.text, record.finish_reason) == ("Looking.", "tool_calls")
