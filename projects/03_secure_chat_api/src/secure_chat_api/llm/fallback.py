"""A fallback chain that remembers every attempt, including those of a call that failed.

``FallbackChain.complete`` raises the last error; the usage ledger needs a row for every
provider call, so this chain collects each attempt through the public ``on_attempt``
hook (which streams report to as well).
"""

from __future__ import annotations

from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import Attempt, FallbackChain
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
        self.on_attempt = self.attempts.append

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
