"""``search_documents`` over the retrieval service: the owner's chunks, with citations.

The owner is a required argument of ``rag.service.search`` and of every store under it;
here it is always the authenticated caller's id (the tool's handler passes
``context.caller.user_id``), so no argument a model writes can reach another user's
documents. A collection id that is not the caller's is refused like a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from genai_shared.db.session import Database
from genai_shared.rag.embeddings import Embedder
from genai_shared.rag.stores.base import VectorStore
from production_deployment.agent.registry import Source, ToolFailed
from production_deployment.rag import service as rag_service
from production_deployment.rag.exceptions import CollectionNotFound, SearchUnavailable
from production_deployment.rag.retrieval import RetrievalOptions
from production_deployment.rag.schemas import SearchRequest
from production_deployment.tools.definitions import FoundChunk


@dataclass(frozen=True)
class RagDocumentSearch:
    """A ``DocumentSearch``: hybrid retrieval, in a short read transaction of its own."""

    db: Database
    store: VectorStore
    embedder: Embedder
    candidates: int = 50
    rrf_k: int = 60

    async def __call__(
        self,
        *,
        owner_id: uuid.UUID,
        query: str,
        limit: int,
        collection_ids: Sequence[uuid.UUID] | None,
    ) -> list[FoundChunk]:
        try:
            request = SearchRequest(
                query=query,
                limit=limit,
                collection_ids=list(collection_ids) if collection_ids is not None else None,
            )
        except ValidationError as exc:
            raise ToolFailed(f"the search request is not valid: {exc.errors()[0]['msg']}") from exc
        options = RetrievalOptions(limit=limit, candidates=self.candidates, rrf_k=self.rrf_k)
        try:
            async with self.db.transaction() as session:
                response = await rag_service.search(
                    session=session,
                    store=self.store,
                    embedder=self.embedder,
                    owner_id=owner_id,
                    request=request,
                    options=options,
                )
        except CollectionNotFound as exc:
            raise ToolFailed("a collection named in collection_ids is not the user's") from exc
        except SearchUnavailable as exc:
            raise ToolFailed("document search is unavailable right now") from exc
        return [
            FoundChunk(
                source=Source(
                    chunk_id=result.chunk_id,
                    document_id=result.citation.document_id,
                    collection_id=result.citation.collection_id,
                    title=result.citation.document_title,
                    page=result.citation.page,
                    last_page=result.citation.last_page,
                    char_start=result.citation.char_start,
                    char_end=result.citation.char_end,
                    heading_path=tuple(result.citation.heading_path),
                ),
                text=result.text,
                score=result.score,
            )
            for result in response.results
        ]
