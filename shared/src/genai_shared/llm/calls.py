"""One model call, as every caller records it: chat turns, gateway calls, agent steps.

A call may reach several targets (a fallback chain: provider + model), so it keeps one
``Attempt`` per target it called and the ``Target`` it is asking right now, if any. When
it has ended, its ``CallRecord`` says how (``Outcome``), what it cost (``Usage``) and what
was said (``text``), and whoever keeps accounts reads that one record in one hook,
``on_end(record)``, however the call ended: answered, failed, or abandoned by its caller.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from genai_shared.llm.types import ChatResponse, Usage

if TYPE_CHECKING:
    from genai_shared.llm.base import LLMProvider


class Outcome(StrEnum):
    """How a model call ended. A stored reply's status uses the same words."""

    COMPLETE = "complete"
    ERROR = "error"
    # Its task was cancelled: the caller left, or a shutdown cancelled it outright. A stream
    # the drain deadline ends in its own format is an ERROR (``DrainDeadlineReached``).
    CANCELLED = "cancelled"

    @classmethod
    def of(cls, error: BaseException) -> Outcome:
        """A failure is an error; anything else that stops a call (``CancelledError``,
        ``GeneratorExit``: the caller leaving, a shutdown) cancels it."""
        return cls.ERROR if isinstance(error, Exception) else cls.CANCELLED


@dataclass(frozen=True)
class Target:
    """One step of a fallback chain: a provider and its own name for the model."""

    provider: LLMProvider
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model}"


@dataclass(frozen=True)
class Attempt:
    """One call to one target. ``target_index`` is the target's position in the chain
    (targets skipped after a long Retry-After leave gaps); None outside a chain."""

    provider: str
    model: str
    duration_s: float
    error_type: str | None = None
    waited_s: float = 0.0
    target_index: int | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None


@dataclass
class CallRecord:
    """What one model call did, filled in as it happens.

    The target that *ended* the call is the one being asked when it stopped (the caller
    left mid-answer) or else the one attempted last (it answered, or failed last); the
    attempts before it ``failed_over``. A stream also records what it sent (``text``,
    ``finish_reason``, and for the gateway ``completion_id`` / ``created``), enough to
    send the same answer again.
    """

    attempts: list[Attempt] = field(default_factory=list)
    asking: Target | None = None
    outcome: Outcome = Outcome.COMPLETE
    usage: Usage = field(default_factory=Usage)
    usage_estimated: bool = False  # counted here: the provider never reported usage
    error_type: str | None = None
    finish_reason: str | None = None
    provider_request_id: str | None = None
    text: str = ""
    completion_id: str | None = None
    created: int | None = None
    started: float = field(default_factory=time.perf_counter)
    latency_s: float | None = None

    @property
    def provider(self) -> str | None:
        """The provider that ended the call (None: no target was reached)."""
        if self.asking is not None:
            return self.asking.provider.name
        return self.attempts[-1].provider if self.attempts else None

    @property
    def model(self) -> str | None:
        if self.asking is not None:
            return self.asking.model
        return self.attempts[-1].model if self.attempts else None

    @property
    def failed_over(self) -> list[Attempt]:
        """The attempts that failed before the target that ended the call."""
        return list(self.attempts if self.asking is not None else self.attempts[:-1])

    @property
    def calls(self) -> int:
        """How many provider calls this call made."""
        return len(self.attempts) + (self.asking is not None)

    @property
    def latency_ms(self) -> int:
        latency = self.latency_s if self.latency_s is not None else self._elapsed()
        return int(latency * 1000)

    def _elapsed(self) -> float:
        return time.perf_counter() - self.started

    def answered(self, response: ChatResponse) -> None:
        """Record a whole answer, as the provider returned it."""
        self.text, self.usage = response.content, response.usage
        self.finish_reason, self.provider_request_id = response.finish_reason, response.request_id

    def failed(self, error: BaseException, outcome: Outcome | None = None) -> None:
        self.outcome = outcome or Outcome.of(error)
        self.error_type = type(error).__name__

    def finish(self) -> None:
        self.latency_s = self._elapsed()


OnCallEnd = Callable[[CallRecord], Awaitable[Any]]
"""The one hook for "the call ended": it gets the filled-in record, exactly once."""
