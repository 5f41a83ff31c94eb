"""A fallback chain that remembers every attempt, including those of a call that failed.

``FallbackChain.complete`` raises the last error and drops its attempt list; the usage
ledger needs a row for every provider call, so this subclass records each attempt as
the chain reports it (its ``_failed`` / ``_succeeded`` hooks, used by streams too).
"""

from __future__ import annotations

from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import Attempt, FallbackChain, Target
from genai_shared.llm.http_errors import to_app_error
from genai_shared.llm.registry import ProviderRegistry


class TrackedChain(FallbackChain):
    def __init__(self, chain: FallbackChain) -> None:
        super().__init__(
            chain.targets,
            max_retry_wait=chain.max_retry_wait,
            backoff_base=chain.backoff_base,
            sleep=chain._sleep,
            rng=chain._rng,
        )
        self.attempts: list[Attempt] = []

    def _failed(
        self, index: int, target: Target, error: ProviderError, started: float, waited: float
    ) -> Attempt:
        attempt = super()._failed(index, target, error, started, waited)
        self.attempts.append(attempt)
        return attempt

    def _succeeded(self, index: int, target: Target, started: float, waited: float) -> Attempt:
        attempt = super()._succeeded(index, target, started, waited)
        self.attempts.append(attempt)
        return attempt

    def final_index(self, *, interrupted: bool) -> int:
        """Index of the target called last.

        When the chain finished (an answer, or its last error), that is the last recorded
        attempt; when the call was interrupted from outside (the client left mid-stream),
        it is the one after the recorded failures, which has no attempt recorded yet.
        """
        if interrupted:
            return min(len(self.attempts), len(self.targets) - 1)
        return max(len(self.attempts) - 1, 0)


def tracked_chain(registry: ProviderRegistry, model: str) -> TrackedChain:
    """The fallback chain for ``model``; an unknown model is a 422 before anything else."""
    try:
        return TrackedChain(registry.fallback_chain(model))
    except ProviderError as error:
        raise to_app_error(error) from error
