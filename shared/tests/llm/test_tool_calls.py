"""Tool calls through the real SDKs (openai, anthropic, litellm) against the fake upstream.

What each adapter sends (tools, tool_choice, the replayed tool exchange), what it reads
back (whole and streamed, arguments in many fragments, parallel calls, text mixed in),
the two-step loop a model with tools runs, and the 400 a broken history gets.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import TypeAdapter

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import InvalidRequest, ProviderUnavailable, RateLimited
from genai_shared.llm.providers.anthropic_provider import AnthropicProvider
from genai_shared.llm.providers.openai_provider import OpenAIProvider
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    StreamEvent,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolSpec,
)
from genai_shared.testing.fake_upstream import RecordedRequest, RunningFakeUpstream
from genai_shared.testing.fake_upstream_fixtures import Drain, Drained
from genai_shared.testing.fake_upstream_tools import ScriptedToolCall, tool_calls_header

SEARCH = ToolSpec(
    name="search_documents",
    description="Search the knowledge base.",
    parameters={
        "type": "object",
        "properties": {"query": {"type": "string"}, "k": {"type": "integer"}},
        "required": ["query"],
    },
)
CALCULATOR = ToolSpec(
    name="calculator",
    description="Evaluate an arithmetic expression.",
    parameters={
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
)
TOOLS = [SEARCH, CALCULATOR]
LONG_QUERY = "how do I pin a dependency to an exact version in a uv workspace with many members"
PARALLEL = (
    ScriptedToolCall("search_documents", {"query": LONG_QUERY, "k": 3}),
    ScriptedToolCall("calculator", {"expression": "(12 + 30) * 2"}),
)


@dataclass
class Adapter:
    """One provider adapter against the fake, and where its requests land."""

    provider: LLMProvider
    model: str
    path: str

    @property
    def kind(self) -> str:
        return "openai" if self.path.endswith("/chat/completions") else "anthropic"


@pytest.fixture(params=["openai", "anthropic"])
async def adapter(
    request: pytest.FixtureRequest, settings: ProviderSettings
) -> AsyncIterator[Adapter]:
    if request.param == "openai":
        async with OpenAIProvider.from_settings(settings) as openai_adapter:
            yield Adapter(openai_adapter, "gpt-4o", "/v1/chat/completions")
    else:
        async with AnthropicProvider.from_settings(settings) as anthropic_adapter:
            yield Adapter(anthropic_adapter, "claude-haiku-4-5", "/v1/messages")


def ask(
    model: str,
    text: str = "What does the handbook say about uv?",
    *,
    tools: list[ToolSpec] | None = TOOLS,
    tool_choice: ToolChoice | None = None,
    headers: dict[str, str] | None = None,
) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[
            ChatMessage(role="system", content="Use the tools."),
            ChatMessage(role="user", content=text),
        ],
        tools=tools,
        tool_choice=tool_choice,
        extra_headers=headers or {},
    )


def scripted(*calls: ScriptedToolCall, text: str = "") -> dict[str, str]:
    return tool_calls_header(*calls, text=text)


def named(calls: list[ToolCall]) -> list[tuple[str, Any]]:
    return [(call.name, json.loads(call.arguments)) for call in calls]


def expected(*calls: ScriptedToolCall) -> list[tuple[str, Any]]:
    return [(call.name, call.arguments) for call in calls]


def replayed(question: str, reply_text: str, calls: list[ToolCall]) -> list[ChatMessage]:
    """The history after running the tools: question, the assistant's calls, one result each."""
    return [
        ChatMessage(role="system", content="Use the tools."),
        ChatMessage(role="user", content=question),
        ChatMessage(role="assistant", content=reply_text or None, tool_calls=calls),
        *(
            ChatMessage(role="tool", tool_call_id=call.id, content=f"result of {call.name} [1]")
            for call in calls
        ),
    ]


class TestToolsSent:
    async def test_openai_format(
        self, settings: ProviderSettings, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        async with OpenAIProvider.from_settings(settings) as provider:
            await provider.complete(ask("gpt-4o", tool_choice="required"))

        body = fake_upstream_requests[0].body
        assert body["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in TOOLS
        ]
        assert body["tool_choice"] == "required"

    async def test_anthropic_format(
        self, settings: ProviderSettings, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        async with AnthropicProvider.from_settings(settings) as provider:
            await provider.complete(ask("claude-haiku-4-5", tool_choice="required"))

        body = fake_upstream_requests[0].body
        assert body["tools"] == [
            {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
            for tool in TOOLS
        ]
        assert body["tool_choice"] == {"type": "any"}

    async def test_no_tool_choice_without_tools(
        self, adapter: Adapter, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        # Both APIs refuse a tool_choice that comes without tools.
        response = await adapter.provider.complete(
            ask(adapter.model, tools=None, tool_choice="auto")
        )

        assert response.finish_reason == "stop"
        assert "tool_choice" not in fake_upstream_requests[0].body
        assert "tools" not in fake_upstream_requests[0].body

    async def test_tool_choice_none_gets_text(self, adapter: Adapter) -> None:
        response = await adapter.provider.complete(
            ask(adapter.model, tool_choice="none", headers=scripted(*PARALLEL))
        )

        assert (response.finish_reason, response.tool_calls) == ("stop", [])
        assert response.content.startswith("Echo: ")


class TestReadBack:
    async def test_parallel_calls_whole(
        self, adapter: Adapter, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        response = await adapter.provider.complete(ask(adapter.model, headers=scripted(*PARALLEL)))

        assert response.finish_reason == "tool_calls"
        assert named(response.tool_calls) == expected(*PARALLEL)
        prefix = "call_" if adapter.kind == "openai" else "toolu_"
        assert all(call.id.startswith(prefix) for call in response.tool_calls)
        assert len({call.id for call in response.tool_calls}) == 2
        assert response.usage.output_tokens > 0
        assert fake_upstream_requests[0].path == adapter.path

    async def test_parallel_calls_streamed_in_fragments(
        self, adapter: Adapter, drain: Drain
    ) -> None:
        result = await drain(
            adapter.provider.stream(ask(adapter.model, headers=scripted(*PARALLEL)))
        )

        assert result.error is None
        end = result.end
        assert end.finish_reason == "tool_calls"
        assert named(end.tool_calls) == expected(*PARALLEL)
        assert result.streamed_tool_calls == end.tool_calls
        assert [d.index for d in result.tool_deltas] == sorted(d.index for d in result.tool_deltas)
        first_call = [d for d in result.tool_deltas if d.index == 0]
        # The long query arrives in many pieces; id and name only with the first.
        assert len([d for d in first_call if d.arguments]) > 5
        assert (first_call[0].id, first_call[0].name) == (end.tool_calls[0].id, "search_documents")
        assert all(d.id is None and d.name is None for d in first_call[1:])
        assert result.texts == []

    async def test_text_then_a_call_streamed(self, adapter: Adapter, drain: Drain) -> None:
        call = ScriptedToolCall("search_documents", {"query": "uv"})

        result = await drain(
            adapter.provider.stream(
                ask(adapter.model, headers=scripted(call, text="Let me look that up."))
            )
        )

        assert result.texts == ["Let ", "me ", "look ", "that ", "up."]
        assert named(result.end.tool_calls) == expected(call)
        assert result.end.finish_reason == "tool_calls"

    async def test_text_then_a_call_whole(self, adapter: Adapter) -> None:
        call = ScriptedToolCall("calculator", {"expression": "2 + 2"})

        response = await adapter.provider.complete(
            ask(adapter.model, headers=scripted(call, text="Computing."))
        )

        assert (response.content, named(response.tool_calls)) == ("Computing.", expected(call))

    async def test_arguments_that_do_not_parse_come_back_as_sent(
        self, settings: ProviderSettings, drain: Drain
    ) -> None:
        """A model can write broken JSON; the adapter passes it on for the caller to refuse."""
        broken = ScriptedToolCall("calculator", '{"expression": "1 +')
        async with OpenAIProvider.from_settings(settings) as provider:
            whole = await provider.complete(ask("gpt-4o", headers=scripted(broken)))
            streamed = await drain(provider.stream(ask("gpt-4o", headers=scripted(broken))))

        assert whole.tool_calls[0].arguments == '{"expression": "1 +'
        assert streamed.end.tool_calls[0].arguments == '{"expression": "1 +'

    async def test_a_call_without_arguments_gets_an_empty_object(
        self, adapter: Adapter, drain: Drain
    ) -> None:
        call = ScriptedToolCall("search_documents", {})

        result = await drain(adapter.provider.stream(ask(adapter.model, headers=scripted(call))))

        assert result.end.tool_calls[0].arguments == "{}"

    async def test_queued_script_answers_the_next_request_only(
        self, adapter: Adapter, fake_upstream_script: RunningFakeUpstream
    ) -> None:
        fake_upstream_script.script_tool_calls(PARALLEL[1])

        first = await adapter.provider.complete(ask(adapter.model, tools=None))
        second = await adapter.provider.complete(ask(adapter.model, tools=None))

        assert named(first.tool_calls) == expected(PARALLEL[1])
        assert second.tool_calls == []
        assert second.content == "Echo: What does the handbook say about uv?"

    async def test_a_fault_does_not_use_up_the_script(
        self, adapter: Adapter, fake_upstream_script: RunningFakeUpstream
    ) -> None:
        """A retried call (after a 429, say) still gets the reply the test scripted."""
        fake_upstream_script.script_tool_calls(PARALLEL[0])

        with pytest.raises(RateLimited):
            await adapter.provider.complete(ask(f"{adapter.model}@fault=rate_limit"))
        retried = await adapter.provider.complete(ask(adapter.model))

        assert named(retried.tool_calls) == expected(PARALLEL[0])


class TestCutStreams:
    async def test_a_stream_cut_inside_the_arguments_is_an_error(
        self, adapter: Adapter, drain: Drain
    ) -> None:
        """No half-written call reaches the caller as if it were complete."""
        request = ask(f"{adapter.model}@fault=truncate_after=4", headers=scripted(*PARALLEL))

        result = await drain(adapter.provider.stream(request))

        assert isinstance(result.error, ProviderUnavailable)
        assert result.ends == []
        assert result.tool_deltas


def test_tool_call_delta_is_a_stream_event() -> None:
    event = TypeAdapter(StreamEvent).validate_python(
        {"type": "tool_call_delta", "index": 1, "arguments": '{"q'}
    )

    assert event == ToolCallDelta(index=1, arguments='{"q')


class TestTwoStepLoop:
    @pytest.mark.parametrize("streamed", [False, True])
    async def test_calls_then_answer(
        self,
        adapter: Adapter,
        streamed: bool,
        drain: Drain,
        fake_upstream_requests: list[RecordedRequest],
        fake_upstream_script: RunningFakeUpstream,
    ) -> None:
        question = "What does the handbook say about uv, and what is (12 + 30) * 2?"
        fake_upstream_script.script_tool_calls(*PARALLEL, text="Checking two things.")
        first = await _reply(adapter, ask(adapter.model, question), streamed, drain)
        assert named(first.tool_calls) == expected(*PARALLEL)

        history = replayed(question, first.content, first.tool_calls)
        second = await _reply(
            adapter,
            ChatRequest(model=adapter.model, messages=history, tools=TOOLS),
            streamed,
            drain,
        )

        assert second.finish_reason == "stop"
        assert second.tool_calls == []
        assert second.content == (
            "Tool result: result of search_documents [1] Tool result: result of calculator [1]"
        )
        sent = fake_upstream_requests[1].body["messages"]
        ids = [call.id for call in first.tool_calls]
        if adapter.kind == "openai":
            assert sent[2]["role"] == "assistant"
            assert sent[2]["content"] == "Checking two things."
            assert [c["id"] for c in sent[2]["tool_calls"]] == ids
            assert [c["function"]["name"] for c in sent[2]["tool_calls"]] == [
                "search_documents",
                "calculator",
            ]
            assert [(m["role"], m["tool_call_id"]) for m in sent[3:]] == [("tool", i) for i in ids]
        else:
            assert [m["role"] for m in sent] == ["user", "assistant", "user"]
            assert sent[1]["content"][0] == {"type": "text", "text": "Checking two things."}
            assert [(b["type"], b["id"], b["input"]) for b in sent[1]["content"][1:]] == [
                ("tool_use", ids[0], PARALLEL[0].arguments),
                ("tool_use", ids[1], PARALLEL[1].arguments),
            ]
            # Both results in the one user message after the calls, as Anthropic requires.
            assert [(b["type"], b["tool_use_id"]) for b in sent[2]["content"]] == [
                ("tool_result", i) for i in ids
            ]

    async def test_history_from_one_provider_replays_to_the_other(
        self, settings: ProviderSettings
    ) -> None:
        """Stored tool exchanges are provider-neutral: a fallback may answer the next step."""
        question = "What does the handbook say about uv?"
        async with (
            OpenAIProvider.from_settings(settings) as openai_adapter,
            AnthropicProvider.from_settings(settings) as anthropic_adapter,
        ):
            first = await openai_adapter.complete(
                ask("gpt-4o", question, headers=scripted(*PARALLEL))
            )
            history = replayed(question, first.content, first.tool_calls)
            answer = await anthropic_adapter.complete(
                ChatRequest(model="claude-haiku-4-5", messages=history, tools=TOOLS)
            )
            back = await openai_adapter.complete(
                ChatRequest(
                    model="gpt-4o",
                    messages=[
                        *history,
                        ChatMessage(role="assistant", content=answer.content),
                        ChatMessage(role="user", content="Thanks!"),
                    ],
                    tools=TOOLS,
                )
            )

        assert answer.content.startswith("Tool result: result of search_documents")
        assert back.tool_calls[0].name == "search_documents"  # a new question: a new search

    async def test_a_user_message_after_the_results_joins_their_anthropic_turn(
        self, settings: ProviderSettings, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        call = ToolCall(id="toolu_01", name="calculator", arguments='{"expression": "2+2"}')
        history = [
            ChatMessage(role="user", content="2+2?"),
            ChatMessage(role="assistant", tool_calls=[call]),
            ChatMessage(role="tool", tool_call_id="toolu_01", content="4"),
            ChatMessage(role="user", content="And in words?"),
        ]
        async with AnthropicProvider.from_settings(settings) as provider:
            await provider.complete(
                ChatRequest(model="claude-haiku-4-5", messages=history, tools=TOOLS)
            )

        sent = fake_upstream_requests[0].body["messages"]
        assert sent[2] == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "4"},
                {"type": "text", "text": "And in words?"},
            ],
        }


async def _reply(
    adapter: Adapter, request: ChatRequest, streamed: bool, drain: Drain
) -> ChatResponse:
    """The reply, whole or put together from the stream (text, calls, finish reason)."""
    if not streamed:
        return await adapter.provider.complete(request)
    result: Drained = await drain(adapter.provider.stream(request))
    assert result.error is None
    end = result.end
    return ChatResponse(
        content=result.text,
        finish_reason=end.finish_reason,
        usage=end.usage,
        provider=adapter.provider.name,
        model=end.model,
        tool_calls=end.tool_calls,
    )


CALL = ToolCall(id="call_abc123", name="calculator", arguments='{"expression": "2+2"}')
BROKEN_HISTORIES = {
    "a result with no call before it": [
        ChatMessage(role="user", content="2+2?"),
        ChatMessage(role="tool", tool_call_id="call_abc123", content="4"),
    ],
    "a result for another call": [
        ChatMessage(role="user", content="2+2?"),
        ChatMessage(role="assistant", tool_calls=[CALL]),
        ChatMessage(role="tool", tool_call_id="call_other", content="4"),
    ],
    "a call never answered": [
        ChatMessage(role="user", content="2+2?"),
        ChatMessage(role="assistant", tool_calls=[CALL]),
        ChatMessage(role="user", content="never mind"),
    ],
    "one of two calls answered": [
        ChatMessage(role="user", content="2+2 and 3+3?"),
        ChatMessage(
            role="assistant", tool_calls=[CALL, CALL.model_copy(update={"id": "call_def456"})]
        ),
        ChatMessage(role="tool", tool_call_id="call_abc123", content="4"),
    ],
    "a result after the conversation moved on": [
        ChatMessage(role="user", content="2+2?"),
        ChatMessage(role="assistant", tool_calls=[CALL]),
        ChatMessage(role="tool", tool_call_id="call_abc123", content="4"),
        ChatMessage(role="assistant", content="It is 4."),
        ChatMessage(role="tool", tool_call_id="call_abc123", content="4"),
    ],
}


class TestBrokenHistory:
    @pytest.mark.parametrize("case", BROKEN_HISTORIES)
    async def test_refused_like_upstream(self, adapter: Adapter, case: str, drain: Drain) -> None:
        request = ChatRequest(model=adapter.model, messages=BROKEN_HISTORIES[case], tools=TOOLS)

        with pytest.raises(InvalidRequest) as refused:
            await adapter.provider.complete(request)
        streamed = await drain(adapter.provider.stream(request))

        assert refused.value.status_code == 400
        assert "tool" in refused.value.message
        assert isinstance(streamed.error, InvalidRequest)

    async def test_the_well_formed_version_is_accepted(self, adapter: Adapter) -> None:
        history = [
            ChatMessage(role="user", content="2+2?"),
            ChatMessage(role="assistant", tool_calls=[CALL]),
            ChatMessage(role="tool", tool_call_id="call_abc123", content="4"),
            ChatMessage(role="assistant", content="It is 4."),
            ChatMessage(role="user", content="thanks"),
        ]

        response = await adapter.provider.complete(
            ChatRequest(model=adapter.model, messages=history, tools=TOOLS, tool_choice="none")
        )

        assert response.content == "Echo: thanks"


# litellm's own noise (its pydantic models), not ours.
_LITELLM_WARNINGS = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
    pytest.mark.filterwarnings("ignore:Item .* is using the `ReadOnly` qualifier:UserWarning"),
]


@pytest.mark.parametrize("model", ["openai/gpt-4o", "anthropic/claude-haiku-4-5"])
@pytest.mark.usefixtures("fake_upstream_script")
class TestLiteLLM:
    """litellm translates both formats into OpenAI's shapes; the adapter reads those."""

    pytestmark = _LITELLM_WARNINGS

    @pytest.fixture
    async def provider(self, settings: ProviderSettings) -> AsyncIterator[LLMProvider]:
        from genai_shared.llm.providers.litellm_provider import LiteLLMProvider

        async with LiteLLMProvider.from_settings(settings) as adapter:
            yield adapter

    async def test_parallel_calls_whole(
        self, provider: LLMProvider, model: str, fake_upstream: RunningFakeUpstream
    ) -> None:
        fake_upstream.script_tool_calls(*PARALLEL)

        response = await provider.complete(ask(model))

        assert response.finish_reason == "tool_calls"
        assert named(response.tool_calls) == expected(*PARALLEL)

    async def test_parallel_calls_streamed(
        self, provider: LLMProvider, model: str, fake_upstream: RunningFakeUpstream, drain: Drain
    ) -> None:
        fake_upstream.script_tool_calls(*PARALLEL)

        result = await drain(provider.stream(ask(model)))

        assert result.error is None
        assert result.end.finish_reason == "tool_calls"
        assert named(result.end.tool_calls) == expected(*PARALLEL)
        assert result.streamed_tool_calls == result.end.tool_calls
        assert len(result.tool_deltas) > 5

    async def test_calls_then_answer(
        self, provider: LLMProvider, model: str, fake_upstream: RunningFakeUpstream
    ) -> None:
        question = "What does the handbook say about uv?"
        fake_upstream.script_tool_calls(*PARALLEL)
        first = await provider.complete(ask(model, question))

        history = replayed(question, first.content, first.tool_calls)
        second = await provider.complete(ChatRequest(model=model, messages=history, tools=TOOLS))

        assert second.content == (
            "Tool result: result of search_documents [1] Tool result: result of calculator [1]"
        )
