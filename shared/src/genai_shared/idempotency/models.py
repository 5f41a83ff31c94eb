"""The columns of the ``idempotency_key`` table, as a mixin for each project's model.

Each project has its own declarative ``Base`` and Alembic history, so it declares
``class IdempotencyKey(IdempotencyKeyColumns, Base)`` with its ``__tablename__``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from genai_shared.db.base import JSONType, UUIDPrimaryKeyMixin, utcnow


class IdempotencyKeyColumns(UUIDPrimaryKeyMixin):
    """A client's ``Idempotency-Key``, per user, with the request it named and its result."""

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        # A constraint belongs to one table: a new one for each project's model.
        return (UniqueConstraint("user_id", "key"),)

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)  # None: running
    response_body: Mapped[Any] = mapped_column(JSONType, nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
