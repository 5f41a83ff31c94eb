"""pgvector: chunk vectors in a PostgreSQL table, searched by cosine distance.

The table is derived data, like a Qdrant collection, so it is not part of the app's
Alembic history: the app's own PostgreSQL may not have the extension (Debian's does not),
and the vectors may live in another database (``PGVECTOR_URL``). :meth:`open` creates the
extension, the table and its indexes, and fails with a clear message where the extension
cannot be created.

Search uses an HNSW index (``vector_cosine_ops``) with the owner in the ``WHERE``
clause. An approximate index filters *after* it finds neighbours, so a small owner among
many could get fewer rows than asked for; pgvector 0.8's iterative scan
(``hnsw.iterative_scan``) keeps walking the graph until enough rows pass the filter.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import Column, Index, MetaData, Table, Uuid, and_, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from genai_shared.rag.stores.base import SearchFilters, VectorHit, VectorPoint, VectorStoreError
from genai_shared.settings import normalize_database_url

# Rows per INSERT: 1000 x 384 floats is a few MB of text, well under any limit.
_UPSERT_BATCH = 1000


def vector_table(name: str, dimensions: int) -> Table:
    """The table's shape (its own metadata: never created by the app's ``create_all``)."""
    metadata = MetaData()
    return Table(
        name,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("owner_id", Uuid, nullable=False),
        Column("collection_id", Uuid, nullable=False),
        Column("document_id", Uuid, nullable=False),
        Column("embedding", VECTOR(dimensions), nullable=False),
        Index(f"ix_{name}_owner_id_collection_id", "owner_id", "collection_id"),
        Index(f"ix_{name}_document_id", "document_id"),
        Index(f"ix_{name}_collection_id", "collection_id"),
        Index(
            f"ix_{name}_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
    )


class PgVectorStore:
    """A :class:`~genai_shared.rag.stores.base.VectorStore` on one pgvector table."""

    def __init__(
        self, *, url: str, dimensions: int, table: str = "chunk_vector", pool_size: int = 5
    ) -> None:
        url = normalize_database_url(url)
        if not url.startswith("postgresql"):
            raise VectorStoreError(
                "VECTOR_STORE=pgvector needs PostgreSQL: set PGVECTOR_URL (or DATABASE_URL) "
                "to a PostgreSQL database that has the vector extension"
            )
        self._url = url
        self._dimensions = dimensions
        self._table = vector_table(table, dimensions)
        self._pool_size = pool_size
        self._engine: AsyncEngine | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return "pgvector"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def open(self) -> None:
        await self._ready()

    async def close(self) -> None:
        async with self._lock:
            if self._engine is not None:
                await self._engine.dispose()
                self._engine = None

    async def _ready(self) -> AsyncEngine:
        if self._engine is not None:
            return self._engine
        async with self._lock:
            if self._engine is None:
                engine = create_async_engine(
                    self._url, pool_size=self._pool_size, max_overflow=0, pool_pre_ping=True
                )
                try:
                    await self._create_schema(engine)
                except BaseException:
                    await engine.dispose()
                    raise
                self._engine = engine
            return self._engine

    async def _create_schema(self, engine: AsyncEngine) -> None:
        table = self._table
        try:
            async with engine.begin() as conn:
                # One process at a time creates the table (IF NOT EXISTS alone can race).
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": table.name}
                )
                await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                await conn.run_sync(table.metadata.create_all)
                size = await self._stored_dimensions(conn)
        except DBAPIError as exc:
            if "vector" in str(exc.orig).lower() and "extension" in str(exc.orig).lower():
                raise VectorStoreError(
                    "VECTOR_STORE=pgvector, but CREATE EXTENSION vector failed on "
                    f"{engine.url.render_as_string(hide_password=True)}: this PostgreSQL "
                    "does not have pgvector installed (or the user may not create "
                    "extensions). Install pgvector there, point PGVECTOR_URL at one that "
                    "has it, or use VECTOR_STORE=qdrant."
                ) from exc
            raise VectorStoreError(f"cannot prepare the pgvector table: {exc.orig}") from exc
        except (OSError, SQLAlchemyError) as exc:
            raise VectorStoreError(
                "cannot reach the pgvector database at "
                f"{engine.url.render_as_string(hide_password=True)}: {exc}"
            ) from exc
        if size != self._dimensions:
            raise VectorStoreError(
                f"pgvector table {table.name!r} holds vectors of size {size}, the embedder "
                f"makes {self._dimensions}: vectors of two models never mix; set "
                "PGVECTOR_TABLE to another name (and re-ingest) or change the embedder"
            )

    async def _stored_dimensions(self, conn: AsyncConnection) -> int | None:
        """The ``n`` of the existing column's ``vector(n)`` (a table made by an older run)."""
        atttypmod = await conn.scalar(
            text(
                "SELECT atttypmod FROM pg_attribute "
                "WHERE attrelid = to_regclass(:name) AND attname = 'embedding'"
            ),
            {"name": self._table.name},
        )
        return int(atttypmod) if atttypmod is not None and atttypmod > 0 else None

    async def upsert(self, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        for point in points:
            if len(point.vector) != self._dimensions:
                raise ValueError(
                    f"vector of size {len(point.vector)} for a store of {self._dimensions}"
                )
        engine = await self._ready()
        table = self._table
        async with engine.begin() as conn:
            for start in range(0, len(points), _UPSERT_BATCH):
                rows = [
                    {
                        "id": point.id,
                        "owner_id": point.owner_id,
                        "collection_id": point.collection_id,
                        "document_id": point.document_id,
                        "embedding": list(point.vector),
                    }
                    for point in points[start : start + _UPSERT_BATCH]
                ]
                statement = insert(table).values(rows)
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[table.c.id],
                        set_={
                            "owner_id": statement.excluded.owner_id,
                            "collection_id": statement.excluded.collection_id,
                            "document_id": statement.excluded.document_id,
                            "embedding": statement.excluded.embedding,
                        },
                    )
                )

    async def search(
        self,
        owner_id: uuid.UUID,
        vector: Sequence[float],
        *,
        limit: int,
        filters: SearchFilters | None = None,
        with_vectors: bool = False,
    ) -> list[VectorHit]:
        if filters is not None and filters.matches_nothing:
            return []
        engine = await self._ready()
        table = self._table
        distance = table.c.embedding.cosine_distance(list(vector))
        columns: list[Any] = [
            table.c.id,
            table.c.collection_id,
            table.c.document_id,
            distance.label("distance"),
        ]
        if with_vectors:
            columns.append(table.c.embedding)
        query = (
            select(*columns)
            .where(_owner_clause(table, owner_id, filters))
            .order_by(distance)
            .limit(limit)
        )
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
            await conn.execute(text(f"SET LOCAL hnsw.ef_search = {max(40, min(limit, 1000))}"))
            rows = (await conn.execute(query)).all()
        return [
            VectorHit(
                id=row.id,
                score=1.0 - float(row.distance),
                collection_id=row.collection_id,
                document_id=row.document_id,
                vector=[float(x) for x in row.embedding] if with_vectors else None,
            )
            for row in rows
        ]

    async def fetch_vectors(
        self, owner_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[float]]:
        if not ids:
            return {}
        engine = await self._ready()
        table = self._table
        query = select(table.c.id, table.c.embedding).where(
            and_(table.c.owner_id == owner_id, table.c.id.in_(list(ids)))
        )
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.id: [float(x) for x in row.embedding] for row in rows}

    async def delete_document(self, owner_id: uuid.UUID, document_id: uuid.UUID) -> None:
        table = self._table
        await self._delete(and_(table.c.owner_id == owner_id, table.c.document_id == document_id))

    async def delete_collection(self, owner_id: uuid.UUID, collection_id: uuid.UUID) -> None:
        table = self._table
        await self._delete(
            and_(table.c.owner_id == owner_id, table.c.collection_id == collection_id)
        )

    async def _delete(self, where: Any) -> None:
        engine = await self._ready()
        async with engine.begin() as conn:
            await conn.execute(delete(self._table).where(where))


def _owner_clause(table: Table, owner_id: uuid.UUID, filters: SearchFilters | None) -> Any:
    clauses = [table.c.owner_id == owner_id]
    if filters is not None and filters.collection_ids is not None:
        clauses.append(table.c.collection_id.in_(sorted(filters.collection_ids)))
    if filters is not None and filters.document_ids is not None:
        clauses.append(table.c.document_id.in_(sorted(filters.document_ids)))
    return and_(*clauses)
