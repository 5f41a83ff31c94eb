from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from genai_shared.db.base import UUIDPrimaryKeyMixin, utcnow
from production_deployment.core.database import Base


class RefreshToken(UUIDPrimaryKeyMixin, Base):
    """One refresh token of a login session (a *family*: every rotation adds a child).

    Only the token's HMAC is stored. A rotated token is revoked; presenting a revoked
    token again means it leaked, so the whole family is revoked. The family id is also the
    ``sid`` claim of the access tokens issued with it: a family with no live token left
    (logged out, or revoked for reuse) makes those access tokens invalid at once.
    """

    __tablename__ = "refresh_token"
    __table_args__ = (Index("ix_refresh_token_family_id", "family_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
