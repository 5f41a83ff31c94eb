"""Qdrant through ``qdrant-client``: embedded (local mode, a folder) or a server (``url``).

Every point carries ``owner_id``, ``collection_id`` and ``document_id`` in its payload;
every search, fetch and delete sends a filter whose first condition is the owner.

Local mode is qdrant-client's own pure-Python engine, not the Qdrant server: search is
exact (brute force over the owner's points), payload indexes do nothing (so none are
made there), the folder is locked by one process at a time, and every point written is
its own SQLite commit (tens of points a second on a plain disk; ``:memory:`` has none).
Its "async" client runs all that synchronously on the event loop, so this store drives
the synchronous local client from a worker thread instead, one call at a time. It suits
development, tests and some tens of thousands of chunks. A server (``QDRANT_URL``) is
driven by the real async client and gets keyword payload indexes, the owner's marked as
the tenant key so that Qdrant keeps each owner's points together.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from genai_shared.rag.stores.base import SearchFilters, VectorHit, VectorPoint, VectorStoreError

_INDEXED_FIELDS = ("owner_id", "collection_id", "document_id")


class QdrantStore:
    """A :class:`~genai_shared.rag.stores.base.VectorStore` on one Qdrant collection.

    The client is opened on first use (or by :meth:`open`): an app that never searches
    never takes the embedded folder's lock.
    """

    def __init__(
        self,
        *,
        dimensions: int,
        collection: str = "chunks",
        path: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
    ) -> None:
        if (path is None) == (url is None):
            raise ValueError("give either path (embedded Qdrant) or url (a Qdrant server)")
        self._dimensions = dimensions
        self._collection = collection
        self._path = path
        self._url = url
        self._api_key = api_key
        self._remote: AsyncQdrantClient | None = None
        self._local: QdrantClient | None = None
        self._open_lock = asyncio.Lock()
        self._local_lock = asyncio.Lock()  # local mode is not safe for concurrent calls
        self._opened = False

    @property
    def name(self) -> str:
        return "qdrant"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def embedded(self) -> bool:
        return self._url is None

    async def open(self) -> None:
        await self._ready()

    async def close(self) -> None:
        async with self._open_lock:
            self._opened = False
            if self._remote is not None:
                await self._remote.close()
                self._remote = None
            if self._local is not None:
                local, self._local = self._local, None
                async with self._local_lock:
                    await anyio.to_thread.run_sync(local.close)

    async def _ready(self) -> None:
        if self._opened:
            return
        async with self._open_lock:
            if not self._opened:
                await self._connect()
                self._opened = True

    async def _call(self, method: str, /, **kwargs: Any) -> Any:
        await self._ready()
        return await self._invoke(method, **kwargs)

    async def _invoke(self, method: str, /, **kwargs: Any) -> Any:
        """Call one client method: awaited on a server, in a worker thread locally."""
        if self._remote is not None:
            return await getattr(self._remote, method)(**kwargs)
        async with self._local_lock:
            local = self._local
            if local is None:
                raise VectorStoreError("the Qdrant store is closed")
            call = functools.partial(getattr(local, method), **kwargs)
            return await anyio.to_thread.run_sync(call)

    async def _connect(self) -> None:
        where = self._url or self._path
        try:
            if self._url is not None:
                self._remote = AsyncQdrantClient(
                    url=self._url, api_key=self._api_key, check_compatibility=False
                )
            else:
                # Loading a folder unpickles every point: not on the event loop either.
                self._local = await anyio.to_thread.run_sync(
                    functools.partial(QdrantClient, path=self._path)
                )
        except RuntimeError as exc:  # the embedded folder is locked by another process
            raise VectorStoreError(f"cannot open Qdrant at {where}: {exc}") from exc
        try:
            await self._ensure_collection()
        except Exception as exc:
            remote, local = self._remote, self._local
            self._remote = self._local = None
            if remote is not None:
                await remote.close()
            if local is not None:
                await anyio.to_thread.run_sync(local.close)
            if isinstance(exc, VectorStoreError):
                raise
            raise VectorStoreError(f"cannot use Qdrant at {where}: {exc}") from exc

    async def _ensure_collection(self) -> None:
        name = self._collection
        if await self._invoke("collection_exists", collection_name=name):
            info = await self._invoke("get_collection", collection_name=name)
            vectors = info.config.params.vectors
            size = vectors.size if isinstance(vectors, models.VectorParams) else None
            if size != self._dimensions:
                raise VectorStoreError(
                    f"Qdrant collection {name!r} holds vectors of size {size}, "
                    f"the embedder makes {self._dimensions}: vectors of two models never mix; "
                    "set QDRANT_COLLECTION to another name (and re-ingest) or change the embedder"
                )
            return
        await self._invoke(
            "create_collection",
            collection_name=name,
            vectors_config=models.VectorParams(
                size=self._dimensions, distance=models.Distance.COSINE
            ),
        )
        if self.embedded:
            return
        for field in _INDEXED_FIELDS:
            await self._invoke(
                "create_payload_index",
                collection_name=name,
                field_name=field,
                field_schema=models.KeywordIndexParams(
                    type=models.KeywordIndexType.KEYWORD, is_tenant=field == "owner_id"
                ),
            )

    async def upsert(self, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        structs = []
        for point in points:
            if len(point.vector) != self._dimensions:
                raise ValueError(
                    f"vector of size {len(point.vector)} for a store of {self._dimensions}"
                )
            structs.append(
                models.PointStruct(
                    id=str(point.id),
                    vector=list(point.vector),
                    payload={
                        "owner_id": str(point.owner_id),
                        "collection_id": str(point.collection_id),
                        "document_id": str(point.document_id),
                    },
                )
            )
        await self._call("upsert", collection_name=self._collection, points=structs, wait=True)

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
        response = await self._call(
            "query_points",
            collection_name=self._collection,
            query=list(vector),
            query_filter=_owner_filter(owner_id, filters),
            limit=limit,
            with_payload=True,
            with_vectors=with_vectors,
        )
        return [
            VectorHit(
                id=uuid.UUID(str(point.id)),
                score=point.score,
                collection_id=uuid.UUID(_payload(point.payload, "collection_id")),
                document_id=uuid.UUID(_payload(point.payload, "document_id")),
                vector=_plain_vector(point.vector) if with_vectors else None,
            )
            for point in response.points
        ]

    async def fetch_vectors(
        self, owner_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[float]]:
        if not ids:
            return {}
        # A filtered scroll, not ``retrieve`` (which takes no filter): ids of another
        # owner's points come back as nothing.
        records, _ = await self._call(
            "scroll",
            collection_name=self._collection,
            scroll_filter=models.Filter(
                must=[_match("owner_id", owner_id), models.HasIdCondition(has_id=_ids(ids))]
            ),
            limit=len(ids),
            with_payload=False,
            with_vectors=True,
        )
        return {uuid.UUID(str(record.id)): _plain_vector(record.vector) for record in records}

    async def delete_document(self, owner_id: uuid.UUID, document_id: uuid.UUID) -> None:
        await self._delete(
            models.Filter(must=[_match("owner_id", owner_id), _match("document_id", document_id)])
        )

    async def delete_collection(self, owner_id: uuid.UUID, collection_id: uuid.UUID) -> None:
        await self._delete(
            models.Filter(
                must=[_match("owner_id", owner_id), _match("collection_id", collection_id)]
            )
        )

    async def _delete(self, selector: models.Filter) -> None:
        await self._call(
            "delete",
            collection_name=self._collection,
            points_selector=models.FilterSelector(filter=selector),
            wait=True,
        )


def _match(field: str, value: uuid.UUID) -> models.FieldCondition:
    return models.FieldCondition(key=field, match=models.MatchValue(value=str(value)))


def _match_any(field: str, values: frozenset[uuid.UUID]) -> models.FieldCondition:
    return models.FieldCondition(
        key=field, match=models.MatchAny(any=sorted(str(value) for value in values))
    )


def _ids(ids: Sequence[uuid.UUID]) -> list[models.ExtendedPointId]:
    return [str(point_id) for point_id in ids]


def _owner_filter(owner_id: uuid.UUID, filters: SearchFilters | None) -> models.Filter:
    must: list[models.Condition] = [_match("owner_id", owner_id)]
    if filters is not None and filters.collection_ids is not None:
        must.append(_match_any("collection_id", filters.collection_ids))
    if filters is not None and filters.document_ids is not None:
        must.append(_match_any("document_id", filters.document_ids))
    return models.Filter(must=must)


def _payload(payload: dict[str, Any] | None, key: str) -> str:
    value = (payload or {}).get(key)
    if not isinstance(value, str):
        raise VectorStoreError(f"a Qdrant point has no {key} in its payload")
    return value


def _plain_vector(vector: Any) -> list[float]:
    if isinstance(vector, list) and all(isinstance(x, float | int) for x in vector):
        return [float(x) for x in vector]
    raise VectorStoreError("a Qdrant point came back without its (unnamed, dense) vector")
