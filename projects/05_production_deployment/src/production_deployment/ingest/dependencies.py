"""Dependencies of the documents API: the queue, the fetch policy, the caller's documents,
and the document a ``POST`` carries (a multipart upload or a URL to import)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from genai_shared.ingest.fetch import FetchPolicy
from genai_shared.web.dependencies import SessionDep
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.core.config import SettingsDep
from production_deployment.ingest import service
from production_deployment.ingest.exceptions import (
    DocumentNotFound,
    DocumentTooLarge,
    IngestionUnavailable,
    UnsupportedRequestBody,
)
from production_deployment.ingest.queue import IngestQueue
from production_deployment.ingest.schemas import DocumentImport
from production_deployment.rag.models import Document

MAX_FORM_FIELDS = 8


async def ingest_queue(request: Request) -> IngestQueue:
    """The queue the lifespan started (``ingest_resources``)."""
    queue: IngestQueue | None = getattr(request.app.state, "ingest_queue", None)
    if queue is None:
        raise IngestionUnavailable
    return queue


async def fetch_policy(settings: SettingsDep) -> FetchPolicy:
    """How URL imports are fetched (tests override it to reach a server on 127.0.0.1)."""
    return service.build_fetch_policy(settings)


IngestQueueDep = Annotated[IngestQueue, Depends(ingest_queue)]
FetchPolicyDep = Annotated[FetchPolicy, Depends(fetch_policy)]


async def owned_document(
    document_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Document:
    """The caller's document named in the path; anyone else's is a 404, like a missing one."""
    document = await service.get_owned_document(
        session=session, document_id=document_id, owner_id=principal.user_id
    )
    if document is None:
        raise DocumentNotFound
    return document


OwnedDocument = Annotated[Document, Depends(owned_document)]


def _invalid(loc: tuple[str, ...], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


async def _uploaded(request: Request, *, max_bytes: int) -> service.SourceDocument:
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
        return service.SourceDocument(
            content=content,
            media_type=upload.content_type,
            source=filename,
            title=title.strip() if isinstance(title, str) and title.strip() else filename,
        )


async def _imported(request: Request, policy: FetchPolicy) -> service.SourceDocument:
    try:
        body = DocumentImport.model_validate_json(await request.body())
    except ValidationError as exc:
        errors: list[Any] = [
            {**error, "loc": ("body", *error.get("loc", ()))} for error in exc.errors()
        ]
        raise RequestValidationError(errors) from exc
    return await service.fetch_source(url=body.url, title=body.title, policy=policy)


async def document_source(
    request: Request, settings: SettingsDep, policy: FetchPolicyDep
) -> service.SourceDocument:
    """A multipart upload (``file``, optional ``title``) or JSON ``{"url": ..., "title": ...}``.

    A URL is fetched here, SSRF-safe and capped, so that its refusal, its size and its
    type are answered now; parsing and embedding happen on the queue.
    """
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await _uploaded(request, max_bytes=settings.ingest_max_upload_bytes)
    if media == "application/json":
        return await _imported(request, policy)
    raise UnsupportedRequestBody


DocumentSourceDep = Annotated[service.SourceDocument, Depends(document_source)]
