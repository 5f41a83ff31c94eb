"""The contract every provider adapter keeps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Self

from genai_shared.llm.types import ChatRequest, ChatResponse, StreamEvent


class LLMProvider(ABC):
    """A chat-completion backend.

    `request.model` is the provider's own model name (the registry strips the routing
    prefix). `stream()` is an async generator: it yields `TextDelta`s and `ToolCallDelta`s
    (in the order the provider sends them) and then exactly one `StreamEnd`, raises a
    `ProviderError` on failure (also after deltas were yielded), and
    closes the upstream response in `finally`, so a consumer that stops early or is
    cancelled releases the connection; call `aclose()` on the generator when breaking out.
    """

    name: str

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Return the whole reply at once."""

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Yield the reply as it is generated."""

    async def aclose(self) -> None:
        """Close every HTTP client this provider created (not injected ones)."""
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
