"""What the documents API reads from a request, whichever project serves it: the queue
the lifespan started, and the document a ``POST`` carries (a multipart upload or a URL
to import). A project's ``ingest/dependencies.py`` wraps these in its own ``Depends``
(its settings, its signed-in user, its document model)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from genai_shared.ingest.exceptions import (
    DocumentTooLarge,
    IngestionUnavailable,
    UnsupportedRequestBody,
)
from genai_shared.ingest.fetch import FetchPolicy
from genai_shared.ingest.queue import IngestQueue
from genai_shared.ingest.schemas import DocumentImport
from genai_shared.ingest.service import SourceDocument, fetch_source

MAX_FORM_FIELDS = 8


async def ingest_queue(request: Request) -> IngestQueue:
    """The queue the lifespan started (``ingest_resources``)."""
    queue: IngestQueue | None = getattr(request.app.state, "ingest_queue", None)
    if queue is None:
        raise IngestionUnavailable
    return queue


def _invalid(loc: tuple[str, ...], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


async def _uploaded(request: Request, *, max_bytes: int) -> SourceDocument:
    """The ``file`` part of a multipart body, read up to one byte past the limit."""
    async with request.form(max_files=1, max_fields=MAX_FORM_FIELDS) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _invalid(("body", "file"), "a file is required in the 'file' field", "missing")
        content = await upload.read(max_bytes + 1)
        if len(content) > max_bytes:
            raise DocumentTooLarge(f"The document is larger than the {max_bytes} bytes allowed")
        title = form.get("title")
        filename = upload.filename or "upload"
        return SourceDocument(
            content=content,
            media_type=upload.content_type,
            source=filename,
            title=title.strip() if isinstance(title, str) and title.strip() else filename,
        )


async def _imported(request: Request, policy: FetchPolicy) -> SourceDocument:
    try:
        body = DocumentImport.model_validate_json(await request.body())
    except ValidationError as exc:
        errors: list[Any] = [
            {**error, "loc": ("body", *error.get("loc", ()))} for error in exc.errors()
        ]
        raise RequestValidationError(errors) from exc
    return await fetch_source(url=body.url, title=body.title, policy=policy)


async def read_document_source(
    request: Request, *, max_upload_bytes: int, policy: FetchPolicy
) -> SourceDocument:
    """A multipart upload (``file``, optional ``title``) or JSON ``{"url": ..., "title": ...}``.

    A URL is fetched here, SSRF-safe and capped, so that its refusal, its size and its
    type are answered now; parsing and embedding happen on the queue.
    """
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await _uploaded(request, max_bytes=max_upload_bytes)
    if media == "application/json":
        return await _imported(request, policy)
    raise UnsupportedRequestBody
