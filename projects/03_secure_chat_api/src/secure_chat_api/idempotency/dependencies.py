from __future__ import annotations

from genai_shared.idempotency.dependencies import IdempotencyKeyHeader

__all__ = ["IdempotencyKeyHeader"]
