"""The columns of the usage ledger and budget tables, as mixins for each project's models.

Each project has its own declarative ``Base`` and Alembic history, so it declares
``class UsageRecord(UsageRecordColumns, Base)`` (and so on) with its ``__tablename__``.
Constraints and indexes are made per class: one object cannot belong to two tables.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from genai_shared.db.base import UUIDPrimaryKeyMixin, utcnow


class UsageRecordColumns(UUIDPrimaryKeyMixin):
    """The ledger: one row per provider call, whatever became of it.

    Rows outlive what they describe (a deleted conversation, a revoked key), so the
    conversation, message and key ids are plain columns, not foreign keys.
    """

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            CheckConstraint("status IN ('complete', 'error', 'cancelled')", name="status_is_known"),
            CheckConstraint("cost_micro_usd >= 0", name="cost_not_negative"),
            Index("ix_usage_record_user_id_day", "user_id", "day"),
            Index("ix_usage_record_day", "day"),
        )

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    day: Mapped[date] = mapped_column(Date)  # UTC day of created_at, for reports
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    route: Mapped[str] = mapped_column(String(16))  # "chat" | "gateway"
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int] = mapped_column(Integer)  # 0: the model asked for, 1+: fallbacks
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    usage_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    error_type: Mapped[str | None] = mapped_column(String(64), default=None)


class BudgetReservationColumns(UUIDPrimaryKeyMixin):
    """The worst-case cost of one call in flight, held from before the provider is called
    until the call settles; the sweeper releases one whose process died."""

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (CheckConstraint("amount_micro_usd >= 0", name="amount_not_negative"),)

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    amount_micro_usd: Mapped[int] = mapped_column(BigInteger)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class UserSpendColumns:
    """A user's spend in one calendar month (UTC): settled, and reserved by calls in flight."""

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            CheckConstraint("spent_micro_usd >= 0", name="spent_not_negative"),
            CheckConstraint("reserved_micro_usd >= 0", name="reserved_not_negative"),
        )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-11"
    spent_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
