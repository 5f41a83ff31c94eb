from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, field_validator

from genai_shared.schemas import CustomModel, RequestModel, UTCDateTime
from production_deployment.users.models import Role

DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Password = Annotated[str, StringConstraints(min_length=10, max_length=128)]
BudgetUsd = Annotated[Decimal, Field(ge=0, le=1_000_000, max_digits=12, decimal_places=2)]


class UserCreate(RequestModel):
    """Signup body. Role, budget and spend are never taken from a client."""

    email: EmailStr = Field(max_length=320)
    display_name: DisplayName
    password: Password

    @field_validator("password")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("password must contain more than whitespace")
        return value


class UserUpdate(RequestModel):
    """What users may change about themselves."""

    display_name: DisplayName | None = None


class AdminUserUpdate(RequestModel):
    """What an admin may change about a user."""

    role: Role | None = None
    monthly_budget_usd: BudgetUsd | None = None
    is_active: bool | None = None


class UserPublic(CustomModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    monthly_budget_usd: Decimal
    created_at: UTCDateTime
