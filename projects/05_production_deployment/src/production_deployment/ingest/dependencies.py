"""Dependencies of the documents API: the queue, the fetch policy, the caller's documents,
and the document a ``POST`` carries (read by ``genai_shared.ingest.dependencies``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from genai_shared.ingest.dependencies import ingest_queue, read_document_source
from genai_shared.ingest.exceptions import DocumentNotFound
from genai_shared.ingest.fetch import FetchPolicy
from genai_shared.ingest.queue import IngestQueue
from genai_shared.ingest.service import SourceDocument, build_fetch_policy
from genai_shared.web.dependencies import SessionDep
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.core.config import SettingsDep
from production_deployment.ingest.service import ingestion
from production_deployment.rag.models import Document


async def fetch_policy(settings: SettingsDep) -> FetchPolicy:
    """How URL imports are fetched (tests override it to reach a server on 127.0.0.1)."""
    return build_fetch_policy(settings)


IngestQueueDep = Annotated[IngestQueue, Depends(ingest_queue)]
FetchPolicyDep = Annotated[FetchPolicy, Depends(fetch_policy)]


async def owned_document(
    document_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Document:
    """The caller's document named in the path; anyone else's is a 404, like a missing one."""
    document = await ingestion.get_owned_document(
        session=session, document_id=document_id, owner_id=principal.user_id
    )
    if document is None:
        raise DocumentNotFound
    return document


OwnedDocument = Annotated[Document, Depends(owned_document)]


async def document_source(
    request: Request, settings: SettingsDep, policy: FetchPolicyDep
) -> SourceDocument:
    """A multipart upload (``file``, optional ``title``) or JSON ``{"url": ..., "title": ...}``."""
    return await read_document_source(
        request, max_upload_bytes=settings.ingest_max_upload_bytes, policy=policy
    )


DocumentSourceDep = Annotated[SourceDocument, Depends(document_source)]
