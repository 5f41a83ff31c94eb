"""The columns of a user, as a mixin for each project's own ``User`` model."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from genai_shared.db.base import TimestampMixin, UUIDPrimaryKeyMixin


class UserColumns(UUIDPrimaryKeyMixin, TimestampMixin):
    """A user: an email, stored lower-cased so that it is unique whatever its case, and a name."""

    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
