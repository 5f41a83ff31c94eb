"""POST /conversations/{id}/chat without streaming, from the shared contracts.

The owner is the signed-in user; idempotency keys on a turn are tested in
``test_idempotency.py``.
"""

from __future__ import annotations

import pytest

from genai_shared.testing.contracts import chat_turn


class TestReply(chat_turn.ChatReplyContract):
    """Storage, history and generation options, on both backends."""


@pytest.mark.sqlite_only
class TestInput(chat_turn.ChatInputContract):
    """Refused before the provider is asked: the PostgreSQL run would add nothing."""


class TestProviderFailure(chat_turn.ProviderFailureContract):
    """A failing provider leaves the user's message and an ``error`` reply."""


class TestFallback(chat_turn.FallbackContract):
    """The configured fallback answers a retriable failure."""
