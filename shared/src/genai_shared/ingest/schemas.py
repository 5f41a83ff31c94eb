"""Request and response bodies of the documents API."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from genai_shared.rag.models import DocumentStatus
from genai_shared.schemas import CustomModel, RequestModel, UTCDateTime

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class DocumentImport(RequestModel):
    """``POST .../documents`` as JSON: fetch a document from a URL (http or https)."""

    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
    title: Title | None = None


class Progress(CustomModel):
    done: int = Field(description="Chunks embedded so far")
    total: int = Field(description="Chunks in the document (0 until it is chunked)")


class DocumentPublic(CustomModel):
    id: uuid.UUID
    collection_id: uuid.UUID
    title: str
    source: str = Field(description="The file name, or the URL it was fetched from")
    content_type: str
    content_hash: str = Field(description="SHA-256 of the bytes: equal documents share it")
    status: DocumentStatus
    progress: Progress
    failure_reason: str | None = Field(description="Why ingestion failed, when it did")
    created_at: UTCDateTime
    updated_at: UTCDateTime

    @model_validator(mode="before")
    @classmethod
    def _progress_from_columns(cls, value: object) -> object:
        """A document row (any project's) keeps progress in two columns; the API shows one
        object. Dicts and models are validated as they are."""
        if isinstance(value, Mapping | BaseModel):
            return value
        done = getattr(value, "progress_done", None)
        if done is None:
            return value
        fields = {name: getattr(value, name) for name in _COLUMNS}
        fields["progress"] = {"done": done, "total": getattr(value, "progress_total", 0)}
        return fields


_COLUMNS = (
    "id",
    "collection_id",
    "title",
    "source",
    "content_type",
    "content_hash",
    "status",
    "failure_reason",
    "created_at",
    "updated_at",
)
