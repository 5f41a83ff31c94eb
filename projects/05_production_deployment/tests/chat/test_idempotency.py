"""Idempotency-Key on chat and gateway POSTs, from the shared contract, on project 05's
ledger: a retry returns the first result, and nothing is stored or charged again."""

from __future__ import annotations

import pytest

from genai_shared.testing.contracts import idempotency
from production_deployment.chat.models import Message
from production_deployment.usage.models import UsageRecord


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
