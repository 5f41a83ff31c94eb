"""This project's declarative base: its own metadata, so its tables never clash with another's."""

from __future__ import annotations

from genai_shared.db.base import new_metadata
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    metadata = new_metadata()
