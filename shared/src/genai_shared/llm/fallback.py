"""Try providers/models in order until one answers.

Only retriable errors (rate limits, timeouts, 5xx/overload, broken responses) move on to
the next target; an invalid request, bad credentials or a content-filter block are raised
at once, since another provider would fail the same way or should not be asked. Before
retrying the same provider the chain waits: `RateLimited.retry_after` when given (capped
by `max_retry_wait`), otherwise a capped exponential backoff with jitter. A stream falls
back only before its first event: once text reached the caller, switching models would
splice two different answers together, so a later failure is raised as it is.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import ProviderError, RateLimited
from genai_shared.llm.types import ChatRequest, ChatResponse, StreamEnd, StreamEvent

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Target:
    """One step of the chain: a provider and its own name for the model."""

    provider: LLMProvider
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model}"


@dataclass(frozen=True)
class Attempt:
    provider: str
    model: str
    duration_s: float
    error_type: str | None = None
    waited_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_type is None


@dataclass
class FallbackResult:
    response: ChatResponse
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def succeeded_index(self) -> int:
        """0 when the first target answered, 1 when the first fallback did, ..."""
        return len(self.attempts) - 1


class FallbackChain:
    def __init__(
        self,
        targets: Sequence[Target],
        *,
        max_retry_wait: float = 5.0,
        backoff_base: float = 0.25,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        """``on_attempt`` sees every attempt as it ends, failed or not (for usage ledgers:
        a call that fails over leaves one record per provider it reached)."""
        if not targets:
            raise ValueError("a fallback chain needs at least one target")
        self.targets = list(targets)
        self.on_attempt = on_attempt
        self.max_retry_wait = max_retry_wait
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    async def complete(
        self, request: ChatRequest, attempts: list[Attempt] | None = None
    ) -> FallbackResult:
        """The first answer along the chain. Each attempt is appended to ``attempts`` when
        given, so a caller keeps them even when the call fails (the last error is raised)."""
        attempts = [] if attempts is None else attempts
        waited = 0.0
        for index, target in enumerate(self.targets):
            started = time.perf_counter()
            try:
                response = await target.provider.complete(_for_target(request, target))
            except ProviderError as error:
                attempts.append(self._failed(index, target, error, started, waited))
                waited = await self._before_next(index, target, error)
                continue
            attempts.append(self._succeeded(index, target, started, waited))
            return FallbackResult(response=response, attempts=attempts)
        raise AssertionError("unreachable: the last failure is raised")  # pragma: no cover

    def stream(self, request: ChatRequest) -> FallbackStream:
        return FallbackStream(self, request)

    def _failed(
        self, index: int, target: Target, error: ProviderError, started: float, waited: float
    ) -> Attempt:
        attempt = Attempt(
            provider=target.provider.name,
            model=target.model,
            duration_s=time.perf_counter() - started,
            error_type=type(error).__name__,
            waited_s=waited,
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
        if self.on_attempt is not None:
            self.on_attempt(attempt)
        return attempt

    def _succeeded(self, index: int, target: Target, started: float, waited: float) -> Attempt:
        attempt = Attempt(
            provider=target.provider.name,
            model=target.model,
            duration_s=time.perf_counter() - started,
            waited_s=waited,
        )
        logger.info(
            "LLM attempt %d/%d %s succeeded after %.3fs",
            index + 1,
            len(self.targets),
            target.label,
            attempt.duration_s,
            extra=_log_fields(attempt, index),
        )
        if self.on_attempt is not None:
            self.on_attempt(attempt)
        return attempt

    async def _before_next(self, index: int, target: Target, error: ProviderError) -> float:
        """Raise `error` if the chain must stop here, else wait as needed; returns the wait."""
        if not error.retriable or index + 1 >= len(self.targets):
            raise error
        following = self.targets[index + 1]
        if following.provider is not target.provider:
            return 0.0
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = min(error.retry_after, self.max_retry_wait)
        else:
            same_provider_before = sum(
                1 for t in self.targets[: index + 1] if t.provider is target.provider
            )
            backoff = self.backoff_base * 2 ** (same_provider_before - 1)
            delay = min(backoff, self.max_retry_wait) * self._rng.uniform(0.5, 1.0)
        if delay > 0:
            await self._sleep(delay)
        return delay


class FallbackStream:
    """An async iterator of stream events; `attempts` tells which target answered."""

    def __init__(self, chain: FallbackChain, request: ChatRequest) -> None:
        self.attempts: list[Attempt] = []
        self._chain = chain
        self._request = request
        self._events = self._run()

    @property
    def succeeded_index(self) -> int | None:
        if self.attempts and self.attempts[-1].ok:
            return len(self.attempts) - 1
        return None

    def __aiter__(self) -> FallbackStream:
        return self

    async def __anext__(self) -> StreamEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    async def _run(self) -> AsyncGenerator[StreamEvent, None]:
        chain = self._chain
        waited = 0.0
        for index, target in enumerate(chain.targets):
            started = time.perf_counter()
            events = target.provider.stream(_for_target(self._request, target))
            delivered = False
            try:
                async for event in events:
                    delivered = True
                    if isinstance(event, StreamEnd):
                        self.attempts.append(chain._succeeded(index, target, started, waited))
                    yield event
                return
            except ProviderError as error:
                self.attempts.append(chain._failed(index, target, error, started, waited))
                if delivered:
                    raise
                waited = await chain._before_next(index, target, error)
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
