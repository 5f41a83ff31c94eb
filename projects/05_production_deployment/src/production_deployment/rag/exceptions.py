"""Errors of collections and search (``genai_shared.rag.exceptions``)."""

from __future__ import annotations

from genai_shared.rag.exceptions import CollectionNameTaken, CollectionNotFound, SearchUnavailable

__all__ = ["CollectionNameTaken", "CollectionNotFound", "SearchUnavailable"]
