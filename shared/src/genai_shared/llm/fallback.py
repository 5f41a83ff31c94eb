"""Try providers/models in order until one answers.

Only retriable errors (rate limits, timeouts, 5xx/overload, broken responses) move on to
the next target; an invalid request, bad credentials or a content-filter block are raised
at once, since another provider would fail the same way or should not be asked. A stream
falls back only before its first event: once text reached the caller, switching models
would splice two different answers together, so a later failure is raised as it is.

Waiting before the same provider again. A 429's `RateLimited.retry_after` is honoured
when it is at most `max_retry_wait`; other retriable errors get a capped exponential
backoff with jitter. A Retry-After *longer* than `max_retry_wait` is never cut short: the
provider has said when it will take calls again, so asking sooner only draws another 429.
Its remaining targets in the chain are skipped (they are not attempts) and the chain
moves on to the next target of another provider; when none is left, the 429 is raised
unchanged, its `retry_after` intact, so the HTTP layer passes the upstream's Retry-After on.

The official SDKs (whose own retries our adapters switch off with `max_retries=0`) differ
here. openai's `_should_retry` declines to retry once Retry-After (`retry-after-ms`, else
`retry-after` in seconds or as a date) exceeds 120 s, and up to that waits exactly what it
says; anthropic's `_should_retry` ignores Retry-After and its `_calculate_retry_timeout`
waits whatever positive delay the header gives. Both fall back to 0.5 s doubling up to
8 s, less up to 25 % jitter, when there is no usable header. The chain's cap is far lower
than openai's 120 s because a person is waiting on the answer and another provider may
answer now.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.calls import Attempt, CallRecord, Target

__all__ = ["Attempt", "FallbackChain", "FallbackResult", "FallbackStream", "Target"]
from genai_shared.llm.errors import ProviderError, RateLimited
from genai_shared.llm.types import ChatRequest, ChatResponse, StreamEnd, StreamEvent

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class FallbackResult:
    response: ChatResponse
    attempts: list[Attempt] = field(default_factory=list)
    succeeded_index: int = 0
    """Position in the chain of the target that answered (0: the first target)."""


class FallbackChain:
    def __init__(
        self,
        targets: Sequence[Target],
        *,
        max_retry_wait: float = 5.0,
        backoff_base: float = 0.25,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not targets:
            raise ValueError("a fallback chain needs at least one target")
        self.targets = list(targets)
        self.max_retry_wait = max_retry_wait
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    async def complete(
        self, request: ChatRequest, record: CallRecord | None = None
    ) -> FallbackResult:
        """The first answer along the chain. Every attempt goes into ``record`` as it ends,
        so a caller keeps them even when the call fails (the last error is raised)."""
        record = record or CallRecord()
        attempts = record.attempts
        benched: list[LLMProvider] = []
        index, waited = 0, 0.0
        while True:
            target = record.asking = self.targets[index]
            started = time.perf_counter()
            try:
                response = await target.provider.complete(_for_target(request, target))
            except ProviderError as error:
                attempts.append(self.failed_attempt(index, target, error, started, waited))
                record.asking = None
                index, waited = await self.next_target(index, target, error, benched)
                continue
            attempts.append(self.answered_attempt(index, target, started, waited))
            record.asking = None
            return FallbackResult(response=response, attempts=attempts, succeeded_index=index)

    def stream(self, request: ChatRequest, record: CallRecord | None = None) -> FallbackStream:
        return FallbackStream(self, request, record or CallRecord())

    def failed_attempt(
        self, index: int, target: Target, error: ProviderError, started: float, waited: float
    ) -> Attempt:
        attempt = Attempt(
            provider=target.provider.name,
            model=target.model,
            duration_s=time.perf_counter() - started,
            error_type=type(error).__name__,
            waited_s=waited,
            target_index=index,
        )
        logger.warning(
            "LLM attempt %d/%d %s failed: %s (retriable=%s) after %.3fs",
            index + 1,
            len(self.targets),
            target.label,
            attempt.error_type,
            error.retriable,
            attempt.duration_s,
            extra=_log_fields(attempt, index),
        )
        return attempt

    def answered_attempt(
        self, index: int, target: Target, started: float, waited: float
    ) -> Attempt:
        attempt = Attempt(
            provider=target.provider.name,
            model=target.model,
            duration_s=time.perf_counter() - started,
            waited_s=waited,
            target_index=index,
        )
        logger.info(
            "LLM attempt %d/%d %s succeeded after %.3fs",
            index + 1,
            len(self.targets),
            target.label,
            attempt.duration_s,
            extra=_log_fields(attempt, index),
        )
        return attempt

    async def next_target(
        self, index: int, target: Target, error: ProviderError, benched: list[LLMProvider]
    ) -> tuple[int, float]:
        """The next target's index and the wait before it; raises `error` if the chain
        must stop here. A provider whose Retry-After exceeds the cap joins `benched`."""
        if not error.retriable:
            raise error
        if (long_wait := self._wait_over_cap(error)) is not None:
            benched.append(target.provider)
            logger.info(
                "LLM provider %s asked to wait %.1fs (over the %.1fs cap): skipping its targets",
                target.provider.name,
                long_wait,
                self.max_retry_wait,
            )
        following = self._next_index(index, benched)
        if following is None:
            raise error
        if self.targets[following].provider is not target.provider:
            return following, 0.0
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = error.retry_after
        else:
            same_provider_before = sum(
                1 for t in self.targets[: index + 1] if t.provider is target.provider
            )
            backoff = self.backoff_base * 2 ** (same_provider_before - 1)
            delay = min(backoff, self.max_retry_wait) * self._rng.uniform(0.5, 1.0)
        if delay > 0:
            await self._sleep(delay)
        return following, delay

    def _wait_over_cap(self, error: ProviderError) -> float | None:
        """The Retry-After of a 429 that asks for longer than `max_retry_wait`, else None."""
        wait = error.retry_after if isinstance(error, RateLimited) else None
        return wait if wait is not None and wait > self.max_retry_wait else None

    def _next_index(self, index: int, benched: Sequence[LLMProvider]) -> int | None:
        """The first target after `index` whose provider is not benched, if any."""
        for following in range(index + 1, len(self.targets)):
            provider = self.targets[following].provider
            if not any(provider is out for out in benched):
                return following
        return None


class FallbackStream:
    """An async iterator of stream events; `attempts` tells which targets were called.

    ``target_index`` is the chain position of the target asked last (or being asked now,
    when the consumer stops early): skipped targets make it differ from ``len(attempts)``.
    """

    def __init__(self, chain: FallbackChain, request: ChatRequest, record: CallRecord) -> None:
        self.record = record
        self.attempts = record.attempts
        self.target_index: int | None = None
        self._chain = chain
        self._request = request
        self._events = self._run()

    @property
    def succeeded_index(self) -> int | None:
        if self.attempts and self.attempts[-1].ok:
            return self.target_index
        return None

    def __aiter__(self) -> FallbackStream:
        return self

    async def __anext__(self) -> StreamEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    async def _run(self) -> AsyncGenerator[StreamEvent, None]:
        chain = self._chain
        benched: list[LLMProvider] = []
        index, waited = 0, 0.0
        while True:
            self.target_index = index
            target = self.record.asking = chain.targets[index]
            started = time.perf_counter()
            events = target.provider.stream(_for_target(self._request, target))
            delivered = False
            try:
                async for event in events:
                    delivered = True
                    if isinstance(event, StreamEnd):
                        self.attempts.append(chain.answered_attempt(index, target, started, waited))
                        self.record.asking = None
                    yield event
                return
            except ProviderError as error:
                self.attempts.append(chain.failed_attempt(index, target, error, started, waited))
                self.record.asking = None
                if delivered:
                    raise
                index, waited = await chain.next_target(index, target, error, benched)
            finally:
                await events.aclose()


def _for_target(request: ChatRequest, target: Target) -> ChatRequest:
    return request.model_copy(update={"model": target.model})


def _log_fields(attempt: Attempt, index: int) -> dict[str, object]:
    return {
        "llm_attempt": index + 1,
        "llm_provider": attempt.provider,
        "llm_model": attempt.model,
        "llm_error_type": attempt.error_type,
        "llm_duration_s": round(attempt.duration_s, 4),
    }
