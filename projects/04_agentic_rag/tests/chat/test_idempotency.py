"""Idempotency-Key on chat and gateway POSTs, from the shared contract, on project 04's
ledger: a retry returns the first result, and nothing is stored or charged again."""

from __future__ import annotations

import pytest

from agentic_rag.chat.models import Message
from agentic_rag.usage.models import UsageRecord
from genai_shared.testing.contracts import idempotency


class TestIdempotency(idempotency.IdempotencyContract):
    message_model = Message
    ledger_model = UsageRecord


@pytest.mark.sqlite_only
class TestInput(idempotency.IdempotencyInputContract):
    """Refused before the database is reached: the PostgreSQL run would add nothing."""


class TestStreamFailingMidway(idempotency.StreamFailingMidwayContract):
    message_model = Message
    ledger_model = UsageRecord


class TestAfterAFailure(idempotency.AfterAFailureContract):
    """A provider failure releases the key."""
