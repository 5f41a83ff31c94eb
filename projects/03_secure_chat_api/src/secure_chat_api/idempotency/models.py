from __future__ import annotations

from genai_shared.idempotency.models import IdempotencyKeyColumns
from secure_chat_api.core.database import Base


class IdempotencyKey(IdempotencyKeyColumns, Base):
    """A client's ``Idempotency-Key``, per user, with the request it named and its result."""

    __tablename__ = "idempotency_key"
