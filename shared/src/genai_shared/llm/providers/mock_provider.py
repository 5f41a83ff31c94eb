"""An in-process, deterministic, offline provider: the default when no key is set.

The reply is derived from the input ("Echo: <last user message>"), usage is counted with
the real token counter, and a `MockScript` can add latency, slow the stream down, or make
calls fail (before any output or part-way through a stream) so tests and demos can
exercise timeouts, fallbacks and error handling without a network.

Tool use, so an agent runs offline: a script's `turns` give the replies in order (tool
calls, text, or both); without them, a request that offers tools gets the rule-based
calls of `mock_tool_use` (search_documents, calculator), and a request that ends with
tool results gets a text answer quoting them. Streamed, the calls arrive as
`ToolCallDelta`s (id and name, then the arguments in fragments) before the `StreamEnd`
that holds them whole, like the real adapters'.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import ProviderError, ProviderUnavailable
from genai_shared.llm.providers.mock_tool_use import (
    answer_from_results,
    planned_tool_calls,
    trailing_tool_results,
)
from genai_shared.llm.tokens import count_messages, count_text, truncate_to_tokens
from genai_shared.llm.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

MOCK_MODELS = ("echo-1",)
_ARGUMENT_FRAGMENT = 8  # characters of a tool call's arguments per streamed delta


@dataclass(frozen=True)
class MockTurn:
    """One scripted reply: text, tool calls, or both (the text comes first)."""

    text: str = ""
    tool_calls: Sequence[ToolCall] = ()


@dataclass
class MockScript:
    """What the mock should do besides answering.

    latency:            seconds before the reply (or before the first streamed chunk)
    chunk_delay:        seconds between streamed chunks
    error:              raised instead of answering (before any output)
    fail_times:         only the first N calls fail with `error`; None means every call
    error_after_chunks: in a stream, raise `error` (default ProviderUnavailable) after
                        this many deltas (text or tool call); `complete()` then fails
    reply:              a fixed text reply instead of the echo (or the answer quoting
                        tool results)
    turns:              the replies of the first calls that answer, in order; once used
                        up, the mock answers by its rules again. A turn's tool calls are
                        made even when the request offers no such tool
    use_tools:          False turns the rule-based tool calls off (text replies only)
    """

    latency: float = 0.0
    chunk_delay: float = 0.0
    error: ProviderError | None = None
    fail_times: int | None = None
    error_after_chunks: int | None = None
    reply: str | None = None
    turns: Sequence[MockTurn] = field(default_factory=tuple)
    use_tools: bool = True


@dataclass(frozen=True)
class _Answer:
    text: str
    finish: FinishReason
    usage: Usage
    request_id: str
    tool_calls: list[ToolCall]


def mock_reply(request: ChatRequest) -> str:
    """The echo; after tool results, the answer that quotes them."""
    if results := trailing_tool_results(request.messages):
        return answer_from_results(results)
    last_user = next((m for m in reversed(request.messages) if m.role == "user"), None)
    text = (last_user.content or "").strip() if last_user else ""
    return f"Echo: {text}" if text else "Echo: (nothing to echo)"


def split_chunks(text: str) -> list[str]:
    """Word-sized pieces whose concatenation is exactly `text`."""
    return re.findall(r"\S+\s*|\s+", text)


class MockProvider(LLMProvider):
    name = "mock"

    def __init__(
        self,
        script: MockScript | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.script = script or MockScript()
        self.calls = 0
        self.answered = 0
        self._sleep = sleep

    def _failure_due(self) -> bool:
        self.calls += 1
        script = self.script
        if script.error is None and script.error_after_chunks is None:
            return False
        return script.fail_times is None or self.calls <= script.fail_times

    def _error(self) -> ProviderError:
        if self.script.error is not None:
            # A script's one exception is raised on every call. Each raise would add its
            # frames to the traceback it already carries, keeping every failed call's
            # objects (turns, sessions, engines) alive as long as the script.
            return self.script.error.with_traceback(None)
        return ProviderUnavailable("the mock stream broke off", provider=self.name)

    def _answer(self, request: ChatRequest) -> _Answer:
        turn = self._next_turn()
        if turn is not None:
            text, calls = turn.text, list(turn.tool_calls)
        elif self.script.use_tools and (calls := planned_tool_calls(request)):
            text = ""
        else:
            calls = []
            text = self.script.reply if self.script.reply is not None else mock_reply(request)
        finish: FinishReason = "tool_calls" if calls else "stop"
        for sequence in request.stop or ():
            if sequence and sequence in text:
                text = text[: text.index(sequence)]
        if request.max_tokens is not None and not calls:
            shorter = truncate_to_tokens(text, request.max_tokens, request.model)
            if shorter != text:
                text, finish = shorter, "length"
        output = count_text(text, request.model) if text else 0
        usage = Usage(
            input_tokens=count_messages(request.messages, request.model),
            output_tokens=output + sum(count_text(c.arguments, request.model) for c in calls),
        )
        digest = hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:16]
        return _Answer(text, finish, usage, f"mock-{digest}", calls)

    def _next_turn(self) -> MockTurn | None:
        """The scripted turn of this call, if the script has one left."""
        self.answered += 1
        turns = self.script.turns
        return turns[self.answered - 1] if self.answered <= len(turns) else None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        failing = self._failure_due()
        if self.script.latency:
            await self._sleep(self.script.latency)
        if failing:
            raise self._error()
        answer = self._answer(request)
        return ChatResponse(
            content=answer.text,
            finish_reason=answer.finish,
            usage=answer.usage,
            provider=self.name,
            model=request.model,
            request_id=answer.request_id,
            tool_calls=answer.tool_calls,
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        failing = self._failure_due()
        if self.script.latency:
            await self._sleep(self.script.latency)
        break_after = self.script.error_after_chunks if failing else None
        if failing and break_after is None:
            raise self._error()
        answer = self._answer(request)
        for sent, event in enumerate(_deltas(answer)):
            if break_after is not None and sent >= break_after:
                raise self._error()
            if sent and self.script.chunk_delay:
                await self._sleep(self.script.chunk_delay)
            yield event
        if break_after is not None:
            raise self._error()
        yield StreamEnd(
            finish_reason=answer.finish,
            usage=answer.usage,
            request_id=answer.request_id,
            model=request.model,
            tool_calls=answer.tool_calls,
        )


def _deltas(answer: _Answer) -> list[TextDelta | ToolCallDelta]:
    """The reply as a stream: the text in words, then each call (its id and name, then
    its arguments in fragments)."""
    events: list[TextDelta | ToolCallDelta] = [
        TextDelta(text=piece) for piece in split_chunks(answer.text)
    ]
    for index, call in enumerate(answer.tool_calls):
        events.append(ToolCallDelta(index=index, id=call.id, name=call.name))
        events.extend(
            ToolCallDelta(index=index, arguments=call.arguments[i : i + _ARGUMENT_FRAGMENT])
            for i in range(0, len(call.arguments), _ARGUMENT_FRAGMENT)
        )
    return events
