from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from genai_shared.db.base import TimestampMixin, UUIDPrimaryKeyMixin
from production_deployment.core.database import Base
from production_deployment.core.money import from_micro


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class User(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "user"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'admin')", name="role_is_known"),
        CheckConstraint("monthly_budget_micro_usd >= 0", name="budget_not_negative"),
    )

    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Money is kept in whole micro-dollars (USD * 1e6) so that the budget check is exact
    # integer arithmetic on PostgreSQL and SQLite alike.
    monthly_budget_micro_usd: Mapped[int] = mapped_column(BigInteger)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    @property
    def monthly_budget_usd(self) -> Decimal:
        return from_micro(self.monthly_budget_micro_usd)
