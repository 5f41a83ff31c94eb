"""An in-process, deterministic, offline provider: the default when no key is set.

The reply is derived from the input ("Echo: <last user message>"), usage is counted with
the real token counter, and a `MockScript` can add latency, slow the stream down, or make
calls fail (before any output or part-way through a stream) so tests and demos can
exercise timeouts, fallbacks and error handling without a network.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import ProviderError, ProviderUnavailable
from genai_shared.llm.tokens import count_messages, count_text, truncate_to_tokens
from genai_shared.llm.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Usage,
)

MOCK_MODELS = ("echo-1",)


@dataclass
class MockScript:
    """What the mock should do besides answering.

    latency:            seconds before the reply (or before the first streamed chunk)
    chunk_delay:        seconds between streamed chunks
    error:              raised instead of answering (before any output)
    fail_times:         only the first N calls fail with `error`; None means every call
    error_after_chunks: in a stream, raise `error` (default ProviderUnavailable) after
                        this many text deltas; `complete()` then fails outright
    reply:              a fixed reply instead of the echo
    """

    latency: float = 0.0
    chunk_delay: float = 0.0
    error: ProviderError | None = None
    fail_times: int | None = None
    error_after_chunks: int | None = None
    reply: str | None = None


def mock_reply(request: ChatRequest) -> str:
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
        self._sleep = sleep

    def _failure_due(self) -> bool:
        self.calls += 1
        script = self.script
        if script.error is None and script.error_after_chunks is None:
            return False
        return script.fail_times is None or self.calls <= script.fail_times

    def _error(self) -> ProviderError:
        return self.script.error or ProviderUnavailable(
            "the mock stream broke off", provider=self.name
        )

    def _answer(self, request: ChatRequest) -> tuple[str, FinishReason, Usage, str]:
        text = self.script.reply if self.script.reply is not None else mock_reply(request)
        finish: FinishReason = "stop"
        for sequence in request.stop or ():
            if sequence and sequence in text:
                text = text[: text.index(sequence)]
        if request.max_tokens is not None:
            shorter = truncate_to_tokens(text, request.max_tokens, request.model)
            if shorter != text:
                text, finish = shorter, "length"
        usage = Usage(
            input_tokens=count_messages(request.messages, request.model),
            output_tokens=count_text(text, request.model),
        )
        digest = hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:16]
        return text, finish, usage, f"mock-{digest}"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        failing = self._failure_due()
        if self.script.latency:
            await self._sleep(self.script.latency)
        if failing:
            raise self._error()
        text, finish, usage, request_id = self._answer(request)
        return ChatResponse(
            content=text,
            finish_reason=finish,
            usage=usage,
            provider=self.name,
            model=request.model,
            request_id=request_id,
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        failing = self._failure_due()
        if self.script.latency:
            await self._sleep(self.script.latency)
        break_after = self.script.error_after_chunks if failing else None
        if failing and break_after is None:
            raise self._error()
        text, finish, usage, request_id = self._answer(request)
        for sent, piece in enumerate(split_chunks(text)):
            if break_after is not None and sent >= break_after:
                raise self._error()
            if sent and self.script.chunk_delay:
                await self._sleep(self.script.chunk_delay)
            yield TextDelta(text=piece)
        if break_after is not None:
            raise self._error()
        yield StreamEnd(
            finish_reason=finish, usage=usage, request_id=request_id, model=request.model
        )
