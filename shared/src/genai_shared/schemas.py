"""The base model every API schema derives from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _as_utc(value: datetime) -> datetime:
    """Treat naive datetimes (SQLite returns them) as UTC and convert aware ones to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_as_utc)]
"""A datetime that is always timezone-aware UTC, so JSON always shows the offset."""


class CustomModel(BaseModel):
    """Response-side base: reads ORM objects and serialises datetimes as ISO 8601 UTC."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class RequestModel(CustomModel):
    """Request-side base: unknown fields are a 422, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
