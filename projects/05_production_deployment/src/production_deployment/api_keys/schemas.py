from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from genai_shared.schemas import CustomModel, RequestModel, UTCDateTime

Scope = Literal["chat", "read"]


class ApiKeyCreate(RequestModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=2)] = ["chat", "read"]
    expires_at: UTCDateTime | None = Field(default=None, description="Never, when omitted")

    @field_validator("scopes")
    @classmethod
    def _unique(cls, value: list[Scope]) -> list[Scope]:
        return sorted(set(value))

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future")
        return value


class ApiKeyPublic(CustomModel):
    """A key as listed: its prefix identifies it; the key itself is never shown again."""

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: UTCDateTime
    expires_at: UTCDateTime | None
    revoked_at: UTCDateTime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key. Shown once: store it now; it cannot be recovered.")
