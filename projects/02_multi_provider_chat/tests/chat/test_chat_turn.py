"""POST /conversations/{id}/chat without streaming, from the shared contracts."""

from __future__ import annotations

from genai_shared.testing.contracts import chat_turn


class TestReply(chat_turn.ChatReplyContract):
    """Storage, history and generation options, on both backends."""


class TestInput(chat_turn.ChatInputContract):
    """The same checks run on both backends here."""


class TestProviderFailure(chat_turn.ProviderFailureContract):
    """A failing provider leaves the user's message and an ``error`` reply."""


class TestFallback(chat_turn.FallbackContract):
    """The configured fallback answers a retriable failure."""
