"""Project 02's ``user`` table: the shared user columns on this project's own ``Base``."""

from __future__ import annotations

from genai_shared.users.models import UserColumns
from multi_provider_chat.core.database import Base


class User(UserColumns, Base):
    __tablename__ = "user"
