from __future__ import annotations

from agentic_rag.core.database import Base
from genai_shared.idempotency.models import IdempotencyKeyColumns


class IdempotencyKey(IdempotencyKeyColumns, Base):
    """A client's ``Idempotency-Key``, per user, with the request it named and its result."""

    __tablename__ = "idempotency_key"
