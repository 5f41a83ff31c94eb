"""Collections, a document's chunks in every index, and search with citations.

Written once for whichever models a project passes to :class:`RagService` (its own
classes over ``genai_shared.rag.models``' column mixins, on its own ``Base``). Methods
never commit; the caller's transaction does. The ``chunk`` table is the source of truth;
the vector store and the keyword index are derived from it:

- writing chunks (:meth:`RagService.store_document_chunks`) inserts the rows (SQLite's
  keyword index follows by trigger, PostgreSQL's is a stored column with its index) and
  upserts the vectors, with chunk ids derived from (document, ordinal) so that a retry
  rewrites the same points instead of adding copies;
- deleting (``delete_document_chunks``, ``delete_collection``) removes the vectors first,
  then the rows: if the transaction then fails, the rows are still there for a retry to
  delete, and a vector is never left behind by a committed delete;
- search results are read back from ``chunk`` with the owner in the ``WHERE`` clause, so
  a vector whose row is gone (or was never committed) is dropped, not shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.pagination import Page, keyset_page
from genai_shared.rag import chunking
from genai_shared.rag.config import RagSettings
from genai_shared.rag.embeddings import Embedder, Vector
from genai_shared.rag.exceptions import CollectionNameTaken, CollectionNotFound
from genai_shared.rag.keyword import KeywordSearch, search_vector
from genai_shared.rag.retrieval import (
    RankedChunk,
    Rerank,
    RetrievalOptions,
    SearchMode,
    retrieve,
)
from genai_shared.rag.schemas import (
    Citation,
    CollectionCreate,
    CollectionPublic,
    SearchRequest,
    SearchResponse,
    SearchResult,
)
from genai_shared.rag.stores.base import SearchFilters, VectorPoint, VectorStore


class CollectionRow(Protocol):
    """What the service needs of a project's collection model (its instances)."""

    id: uuid.UUID
    owner_id: uuid.UUID


class DocumentRow(Protocol):
    """What the service needs of a project's document model (its instances)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    collection_id: uuid.UUID


class ChunkRow(Protocol):
    """What the service needs of a project's chunk model (its instances)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    collection_id: uuid.UUID
    document_id: uuid.UUID


CollectionT = TypeVar("CollectionT", bound=CollectionRow)
DocumentT = TypeVar("DocumentT", bound=DocumentRow)
ChunkT = TypeVar("ChunkT", bound=ChunkRow)


def chunk_id(document_id: uuid.UUID, ordinal: int) -> uuid.UUID:
    """The id of a document's ``ordinal``-th chunk: the same on every retry."""
    return uuid.uuid5(document_id, f"chunk:{ordinal}")


def search_options(settings: RagSettings, request: SearchRequest) -> RetrievalOptions:
    """A search request's retrieval options: its own choices within the settings' limits."""
    limit = min(request.limit or settings.search_default_limit, settings.search_max_limit)
    return RetrievalOptions(
        limit=limit,
        candidates=settings.search_candidates,
        rrf_k=settings.rrf_k,
        rerank=Rerank(request.rerank) if request.rerank else None,
        mmr_lambda=request.mmr_lambda if request.mmr_lambda is not None else settings.mmr_lambda,
    )


class RagService(Generic[CollectionT, DocumentT, ChunkT]):
    """The service over one project's collection, document and chunk models."""

    def __init__(
        self,
        collection_model: type[CollectionT],
        document_model: type[DocumentT],
        chunk_model: type[ChunkT],
        keyword: KeywordSearch[Any],
    ) -> None:
        self.collection_model = collection_model
        self.document_model = document_model
        self.chunk_model = chunk_model
        self.keyword = keyword
        # The same classes for building queries: their columns are SQLAlchemy attributes,
        # which a protocol of instance fields cannot describe.
        self._collections: Any = collection_model
        self._documents: Any = document_model
        self._chunks: Any = chunk_model

    # --- collections -------------------------------------------------------------------

    async def create_collection(
        self, *, session: AsyncSession, owner_id: uuid.UUID, data: CollectionCreate
    ) -> CollectionT:
        """A new collection of the caller's; names are unique per owner."""
        taken = await session.scalar(
            select(self._collections.id).where(
                self._collections.owner_id == owner_id, self._collections.name == data.name
            )
        )
        if taken is not None:
            raise CollectionNameTaken
        collection: CollectionT = self._collections(
            owner_id=owner_id, name=data.name, description=data.description
        )
        session.add(collection)
        await session.flush()
        return collection

    async def list_collections(
        self, *, session: AsyncSession, owner_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[CollectionPublic]:
        """The owner's collections, newest first, one keyset page."""
        rows, next_cursor = await keyset_page(
            session,
            select(self._collections).where(self._collections.owner_id == owner_id),
            created_at=self._collections.created_at,
            row_id=self._collections.id,
            cursor=cursor,
            limit=limit,
            newest_first=True,
        )
        return Page[CollectionPublic](
            items=[CollectionPublic.model_validate(row) for row in rows], next_cursor=next_cursor
        )

    async def get_owned_collection(
        self, *, session: AsyncSession, owner_id: uuid.UUID, collection_id: uuid.UUID
    ) -> CollectionT | None:
        return await session.scalar(
            select(self._collections).where(
                self._collections.id == collection_id, self._collections.owner_id == owner_id
            )
        )

    async def delete_collection(
        self, *, session: AsyncSession, store: VectorStore, collection: CollectionT
    ) -> None:
        """Remove a collection with its documents, chunks and vectors."""
        await store.delete_collection(collection.owner_id, collection.id)
        # The database cascades to documents and chunks (and SQLite's keyword index by trigger).
        await session.execute(
            delete(self._collections).where(self._collections.id == collection.id)
        )

    # --- a document's chunks (used by ingestion) ---------------------------------------

    async def store_document_chunks(
        self,
        *,
        session: AsyncSession,
        store: VectorStore,
        document: DocumentT,
        chunks: Sequence[chunking.Chunk],
        vectors: Sequence[Vector],
    ) -> list[ChunkT]:
        """Write a batch of a document's chunks: rows, keyword index and vectors.

        A chunk replaces the document's chunk of the same ordinal, so writing a batch twice
        leaves one copy, and a document may be written in several batches. To re-ingest a
        document from scratch (it may now have fewer chunks), call
        :meth:`delete_document_chunks` first.
        """
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if not chunks:
            return []
        ordinals = [chunk.ordinal for chunk in chunks]
        if len(set(ordinals)) != len(ordinals):
            raise ValueError("two chunks of the batch have the same ordinal")
        await session.execute(
            delete(self._chunks).where(
                self._chunks.document_id == document.id, self._chunks.ordinal.in_(ordinals)
            )
        )
        rows = [
            self._chunks(
                id=chunk_id(document.id, chunk.ordinal),
                document_id=document.id,
                collection_id=document.collection_id,
                owner_id=document.owner_id,
                ordinal=chunk.ordinal,
                heading_path=list(chunk.heading_path),
                page=chunk.page,
                last_page=chunk.last_page,
                char_start=chunk.char_start,
                char_end=chunk.char_end,
                text=chunk.text,
                token_count=chunk.token_count,
            )
            for chunk in chunks
        ]
        session.add_all(rows)
        await session.flush()
        if session.get_bind().dialect.name == "postgresql":  # SQLite's index follows by trigger
            await session.execute(
                update(self._chunks)
                .where(self._chunks.document_id == document.id, self._chunks.ordinal.in_(ordinals))
                .values(search_vector=search_vector(self._chunks.text))
            )
        await store.upsert(
            [
                VectorPoint(
                    id=row.id,
                    vector=vector,
                    owner_id=row.owner_id,
                    collection_id=row.collection_id,
                    document_id=row.document_id,
                )
                for row, vector in zip(rows, vectors, strict=True)
            ]
        )
        return rows

    async def delete_document_chunks(
        self, *, session: AsyncSession, store: VectorStore, document: DocumentT
    ) -> None:
        """Remove a document's chunks everywhere: vectors, rows and the keyword index.

        The document row stays (deleting it cascades to the rows, but not to the vectors:
        call this first).
        """
        await store.delete_document(document.owner_id, document.id)
        await session.execute(delete(self._chunks).where(self._chunks.document_id == document.id))

    async def copy_document_chunks(
        self, *, session: AsyncSession, store: VectorStore, source: DocumentT, target: DocumentT
    ) -> int:
        """Give ``target`` the chunks and vectors of ``source`` (same owner, same content)
        without embedding again. Returns how many chunks were copied."""
        if source.owner_id != target.owner_id:
            raise ValueError("chunks are only copied between documents of one owner")
        rows = list(
            await session.scalars(
                select(self._chunks)
                .where(
                    self._chunks.document_id == source.id, self._chunks.owner_id == source.owner_id
                )
                .order_by(self._chunks.ordinal)
            )
        )
        vectors = await store.fetch_vectors(source.owner_id, [row.id for row in rows])
        if len(vectors) != len(rows):
            raise LookupError(f"{len(rows) - len(vectors)} vectors of document {source.id} missing")
        copies = [
            chunking.Chunk(
                document_id=str(target.id),
                ordinal=row.ordinal,
                heading_path=tuple(row.heading_path),
                page=row.page,
                last_page=row.last_page,
                char_start=row.char_start,
                char_end=row.char_end,
                text=row.text,
                token_count=row.token_count,
            )
            for row in rows
        ]
        await self.store_document_chunks(
            session=session,
            store=store,
            document=target,
            chunks=copies,
            vectors=[vectors[row.id] for row in rows],
        )
        return len(copies)

    # --- search ------------------------------------------------------------------------

    async def owned_collection_ids(
        self, *, session: AsyncSession, owner_id: uuid.UUID, collection_ids: Sequence[uuid.UUID]
    ) -> frozenset[uuid.UUID]:
        """Check that every named collection is the owner's; any other one is a 404."""
        wanted = frozenset(collection_ids)
        if not wanted:
            return wanted
        found = set(
            await session.scalars(
                select(self._collections.id).where(
                    self._collections.owner_id == owner_id, self._collections.id.in_(sorted(wanted))
                )
            )
        )
        if found != wanted:
            raise CollectionNotFound(details=[{"collection_id": str(i)} for i in wanted - found])
        return wanted

    async def search(
        self,
        *,
        session: AsyncSession,
        store: VectorStore,
        embedder: Embedder,
        owner_id: uuid.UUID,
        request: SearchRequest,
        options: RetrievalOptions,
    ) -> SearchResponse:
        """Search the owner's chunks and return them with citations, best first."""
        collection_ids = None
        if request.collection_ids is not None:
            collection_ids = await self.owned_collection_ids(
                session=session, owner_id=owner_id, collection_ids=request.collection_ids
            )
        document_ids = None
        if request.document_ids is not None:
            document_ids = frozenset(request.document_ids)
        filters = SearchFilters(collection_ids=collection_ids, document_ids=document_ids)
        ranked = await retrieve(
            session=session,
            store=store,
            embedder=embedder,
            keyword=self.keyword,
            owner_id=owner_id,
            query=request.query,
            mode=SearchMode(request.mode),
            options=options,
            filters=filters,
        )
        return SearchResponse(
            query=request.query,
            mode=request.mode,
            rerank=options.rerank,
            limit=options.limit,
            results=await self.cite(session=session, owner_id=owner_id, ranked=ranked),
        )

    async def cite(
        self, *, session: AsyncSession, owner_id: uuid.UUID, ranked: Sequence[RankedChunk]
    ) -> list[SearchResult]:
        """The ranked chunks' text and citations, in rank order, read with the owner filter.

        A ranked id with no row of the owner's (a vector left by a failed write) is dropped.
        """
        if not ranked:
            return []
        rows = (
            await session.execute(
                select(self._chunks, self._documents.title, self._documents.source)
                .join(self._documents, self._documents.id == self._chunks.document_id)
                .where(
                    self._chunks.owner_id == owner_id,
                    self._chunks.id.in_([item.id for item in ranked]),
                )
            )
        ).all()
        by_id = {chunk.id: (chunk, title, source) for chunk, title, source in rows}
        results = []
        for item in ranked:
            if item.id not in by_id:
                continue
            chunk, title, source = by_id[item.id]
            results.append(
                SearchResult(
                    chunk_id=chunk.id,
                    score=item.score,
                    semantic_score=item.semantic_score,
                    keyword_score=item.keyword_score,
                    text=chunk.text,
                    citation=Citation(
                        document_id=chunk.document_id,
                        document_title=title,
                        source=source,
                        collection_id=chunk.collection_id,
                        ordinal=chunk.ordinal,
                        page=chunk.page,
                        last_page=chunk.last_page,
                        char_start=chunk.char_start,
                        char_end=chunk.char_end,
                        heading_path=list(chunk.heading_path),
                    ),
                )
            )
        return results
