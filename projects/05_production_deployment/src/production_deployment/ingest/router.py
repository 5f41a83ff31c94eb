"""Documents of a collection: upload or import (queued), list, read (status and progress),
delete (chunks and vectors everywhere)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from genai_shared.db.pagination import InvalidCursor, Page, PageParamsDep
from genai_shared.ingest.exceptions import (
    DocumentNotFound,
    DocumentTooLarge,
    EmptyDocument,
    IngestionUnavailable,
    UnsupportedDocumentType,
    UnsupportedRequestBody,
    URLFetchFailed,
    URLNotAllowed,
)
from genai_shared.ingest.schemas import DocumentImport, DocumentPublic
from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_responses
from production_deployment.core.config import SettingsDep
from production_deployment.ingest.dependencies import (
    DocumentSourceDep,
    IngestQueueDep,
    OwnedDocument,
)
from production_deployment.ingest.service import ingestion
from production_deployment.rag.dependencies import OwnedCollection, VectorStoreDep
from production_deployment.rag.exceptions import CollectionNotFound
from production_deployment.rag.models import Document

router = APIRouter(tags=["documents"])

# One route takes two bodies: FastAPI cannot infer that, so OpenAPI is told here.
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "maxLength": 300},
                    },
                }
            },
            "application/json": {"schema": DocumentImport.model_json_schema()},
        },
    }
}


@router.post(
    "/collections/{collection_id}/documents",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentPublic,
    openapi_extra=_UPLOAD_BODY,
    responses=error_responses(
        CollectionNotFound,
        DocumentTooLarge,
        UnsupportedDocumentType,
        UnsupportedRequestBody,
        EmptyDocument,
        URLNotAllowed,
        URLFetchFailed,
        IngestionUnavailable,
    ),
)
async def add_document(
    collection: OwnedCollection,
    source: DocumentSourceDep,
    session: SessionDep,
    queue: IngestQueueDep,
    settings: SettingsDep,
) -> Document:
    """Upload a file (multipart: `file`, optional `title`) or import a URL (JSON: `url`).

    Text, Markdown, HTML and PDF. The document is ingested in the background: poll
    `GET /documents/{id}` until its status is `ready` (or `failed`, with a reason).
    """
    return await ingestion.create_document(
        session=session, queue=queue, settings=settings, collection=collection, source=source
    )


@router.get(
    "/collections/{collection_id}/documents",
    response_model=Page[DocumentPublic],
    responses=error_responses(CollectionNotFound, InvalidCursor),
)
async def list_documents(
    collection: OwnedCollection, page: PageParamsDep, session: SessionDep
) -> Page[DocumentPublic]:
    """A collection's documents, newest first."""
    return await ingestion.list_documents(
        session=session, collection=collection, limit=page.limit, cursor=page.cursor
    )


@router.get(
    "/documents/{document_id}",
    response_model=DocumentPublic,
    responses=error_responses(DocumentNotFound),
)
async def get_document(document: OwnedDocument) -> Document:
    return document


@router.delete(
    "/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(DocumentNotFound),
)
async def delete_document(
    document: OwnedDocument, session: SessionDep, store: VectorStoreDep
) -> Response:
    await ingestion.delete_document(session=session, store=store, document=document)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
