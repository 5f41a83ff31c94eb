"""The idempotency errors, shared by every project (see ``genai_shared.idempotency``)."""

from __future__ import annotations

from genai_shared.idempotency.exceptions import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
)

__all__ = ["IdempotencyKeyInvalid", "IdempotencyKeyReused", "IdempotentRequestInProgress"]
