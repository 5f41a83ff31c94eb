"""Errors of collections and search (the JSON envelope comes from ``genai_shared.web.errors``)."""

from __future__ import annotations

from genai_shared.web.errors import AppError, Conflict, NotFound


class CollectionNotFound(NotFound):
    """Also another user's collection: ids of other users' collections cannot be probed."""

    message = "Collection not found"


class CollectionNameTaken(Conflict):
    message = "You already have a collection with this name"


class SearchUnavailable(AppError):
    """The vector store or the embedder could not answer (keyword search still works)."""

    status_code = 503
    message = "Search is unavailable right now; keyword mode may still work"
