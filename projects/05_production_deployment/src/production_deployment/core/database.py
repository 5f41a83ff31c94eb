"""This project's declarative base: its own metadata, so its tables never clash with another's."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from genai_shared.db.base import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
