"""Project 01's ``user`` table: the shared user columns on this project's own ``Base``."""

from __future__ import annotations

from chat_api_with_db.core.database import Base
from genai_shared.users.models import UserColumns


class User(UserColumns, Base):
    __tablename__ = "user"
