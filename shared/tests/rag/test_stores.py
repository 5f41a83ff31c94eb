"""The vector store contract, run on embedded Qdrant and on pgvector (embedded PostgreSQL).

Not run here: a Qdrant *server* (``QDRANT_URL``). The same ``QdrantStore`` code talks to
it, but the server's own behaviour (payload indexes, the tenant index, HNSW instead of
local mode's exact search) is not exercised by these tests.
"""

from __future__ import annotations

import inspect
import uuid

import asyncpg
import numpy as np
import pytest

from genai_shared.rag.stores import SearchFilters, VectorPoint, VectorStore, VectorStoreError
from genai_shared.rag.stores.pgvector import PgVectorStore
from genai_shared.rag.stores.qdrant import QdrantStore

DIMS = 8


def _unit(rng: np.random.Generator) -> list[float]:
    vector = rng.normal(size=DIMS)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def _points(
    rng: np.random.Generator,
    count: int,
    *,
    owner: uuid.UUID,
    collection: uuid.UUID,
    document: uuid.UUID,
) -> list[VectorPoint]:
    return [
        VectorPoint(uuid.uuid4(), _unit(rng), owner, collection, document) for _ in range(count)
    ]


def _cosine(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.fixture
async def store(make_store, store_kind: str) -> VectorStore:
    return await make_store(store_kind, dimensions=DIMS)


class TestOwnerIsRequired:
    @pytest.mark.parametrize("cls", [VectorStore, QdrantStore, PgVectorStore])
    def test_search_and_deletes_take_the_owner_without_a_default(self, cls: type) -> None:
        for method in ("search", "fetch_vectors", "delete_document", "delete_collection"):
            parameter = inspect.signature(getattr(cls, method)).parameters["owner_id"]
            assert parameter.default is inspect.Parameter.empty, (cls, method)
            assert parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (cls, method)

    async def test_a_search_without_an_owner_is_a_type_error(self, store: VectorStore) -> None:
        with pytest.raises(TypeError):
            await store.search(vector=[1.0] * DIMS, limit=3)  # type: ignore[call-arg]

    def test_both_stores_implement_the_protocol(self, tmp_path) -> None:
        assert isinstance(QdrantStore(dimensions=DIMS, path=str(tmp_path)), VectorStore)
        assert isinstance(PgVectorStore(url="postgresql://u@h/db", dimensions=DIMS), VectorStore)


class TestSearch:
    async def test_nearest_first_with_cosine_scores(self, store: VectorStore, rng) -> None:
        owner, collection, document = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        points = _points(rng, 30, owner=owner, collection=collection, document=document)
        await store.upsert(points)
        query = _unit(rng)

        hits = await store.search(owner, query, limit=5)

        expected = sorted(points, key=lambda p: -_cosine(query, list(p.vector)))[:5]
        assert [hit.id for hit in hits] == [p.id for p in expected]
        for hit, point in zip(hits, expected, strict=True):
            assert hit.score == pytest.approx(_cosine(query, list(point.vector)), abs=1e-5)
            assert (hit.collection_id, hit.document_id) == (collection, document)
            assert hit.vector is None

    async def test_with_vectors_returns_each_points_direction(
        self, store: VectorStore, rng
    ) -> None:
        owner = uuid.uuid4()
        points = _points(rng, 5, owner=owner, collection=uuid.uuid4(), document=uuid.uuid4())
        await store.upsert(points)
        hits = await store.search(owner, _unit(rng), limit=5, with_vectors=True)
        by_id = {p.id: list(p.vector) for p in points}
        for hit in hits:
            assert hit.vector is not None
            assert _cosine(hit.vector, by_id[hit.id]) == pytest.approx(1.0, abs=1e-5)

    async def test_upserting_twice_keeps_one_copy_with_the_new_vector(
        self, store: VectorStore, rng
    ) -> None:
        owner, collection, document = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        points = _points(rng, 4, owner=owner, collection=collection, document=document)
        await store.upsert(points)
        moved = VectorPoint(points[0].id, _unit(rng), owner, collection, document)
        await store.upsert([*points[1:], moved])

        hits = await store.search(owner, moved.vector, limit=50)

        assert sorted(hit.id for hit in hits) == sorted(p.id for p in points)
        assert hits[0].id == moved.id
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)

    async def test_a_vector_of_the_wrong_size_is_refused(self, store: VectorStore) -> None:
        point = VectorPoint(uuid.uuid4(), [1.0] * (DIMS + 1), *(uuid.uuid4() for _ in range(3)))
        with pytest.raises(ValueError, match="size"):
            await store.upsert([point])


class TestOwnerFilter:
    async def test_another_owners_points_are_never_returned(self, store: VectorStore, rng) -> None:
        alice, bob = uuid.uuid4(), uuid.uuid4()
        a_collection, a_document = uuid.uuid4(), uuid.uuid4()
        alices = _points(rng, 20, owner=alice, collection=a_collection, document=a_document)
        bobs = _points(rng, 3, owner=bob, collection=uuid.uuid4(), document=uuid.uuid4())
        await store.upsert([*alices, *bobs])

        for point in alices[:5]:  # Bob asks with Alice's exact vectors and ids
            filters = [
                None,
                SearchFilters(collection_ids=frozenset({a_collection})),
                SearchFilters(document_ids=frozenset({a_document})),
            ]
            for f in filters:
                hits = await store.search(bob, point.vector, limit=50, filters=f)
                assert {hit.id for hit in hits} <= {p.id for p in bobs}, f
        assert await store.fetch_vectors(bob, [p.id for p in alices]) == {}
        # Control: Alice does find them.
        assert len(await store.search(alice, alices[0].vector, limit=50)) == 20

    async def test_an_owner_with_few_points_among_many_gets_all_they_asked_for(
        self, make_store, store_kind: str, rng
    ) -> None:
        """Whichever plan PostgreSQL picks (the owner's B-tree index, or the HNSW graph,
        which filters after it finds neighbours, with pgvector's iterative scan), a small
        owner among many gets all it asked for. (Embedded Qdrant in memory here: on disk
        it commits every point one by one.)"""
        where = {"path": ":memory:"} if store_kind == "qdrant" else {}
        store = await make_store(store_kind, dimensions=DIMS, **where)
        crowd = [
            VectorPoint(uuid.uuid4(), _unit(rng), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
            for _ in range(2000)
        ]
        small = uuid.uuid4()
        mine = _points(rng, 6, owner=small, collection=uuid.uuid4(), document=uuid.uuid4())
        await store.upsert([*crowd, *mine])

        hits = await store.search(small, _unit(rng), limit=6)

        assert sorted(hit.id for hit in hits) == sorted(p.id for p in mine)

    async def test_deletes_by_another_owner_remove_nothing(self, store: VectorStore, rng) -> None:
        alice, collection, document = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await store.upsert(_points(rng, 3, owner=alice, collection=collection, document=document))
        intruder = uuid.uuid4()
        await store.delete_document(intruder, document)
        await store.delete_collection(intruder, collection)
        assert len(await store.search(alice, _unit(rng), limit=10)) == 3


class TestFilters:
    async def test_collection_and_document_filters(self, store: VectorStore, rng) -> None:
        owner = uuid.uuid4()
        c1, c2, d1, d2, d3 = (uuid.uuid4() for _ in range(5))
        p1 = _points(rng, 3, owner=owner, collection=c1, document=d1)
        p2 = _points(rng, 3, owner=owner, collection=c1, document=d2)
        p3 = _points(rng, 3, owner=owner, collection=c2, document=d3)
        await store.upsert([*p1, *p2, *p3])

        async def ids(filters: SearchFilters) -> set[uuid.UUID]:
            hits = await store.search(owner, _unit(rng), limit=50, filters=filters)
            return {hit.id for hit in hits}

        assert await ids(SearchFilters(collection_ids=frozenset({c1}))) == {p.id for p in p1 + p2}
        assert await ids(SearchFilters(document_ids=frozenset({d2, d3}))) == {p.id for p in p2 + p3}
        both = SearchFilters(collection_ids=frozenset({c1}), document_ids=frozenset({d2, d3}))
        assert await ids(both) == {p.id for p in p2}
        assert await ids(SearchFilters(collection_ids=frozenset())) == set()
        assert await ids(SearchFilters()) == {p.id for p in p1 + p2 + p3}


class TestDeletes:
    async def test_delete_document_removes_only_that_documents_points(
        self, store: VectorStore, rng
    ) -> None:
        owner, collection, d1, d2 = (uuid.uuid4() for _ in range(4))
        gone = _points(rng, 4, owner=owner, collection=collection, document=d1)
        kept = _points(rng, 2, owner=owner, collection=collection, document=d2)
        await store.upsert([*gone, *kept])

        await store.delete_document(owner, d1)

        hits = await store.search(owner, _unit(rng), limit=50)
        assert {hit.id for hit in hits} == {p.id for p in kept}
        assert await store.fetch_vectors(owner, [p.id for p in gone]) == {}

    async def test_delete_collection_removes_its_points(self, store: VectorStore, rng) -> None:
        owner, c1, c2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        gone = _points(rng, 3, owner=owner, collection=c1, document=uuid.uuid4())
        kept = _points(rng, 3, owner=owner, collection=c2, document=uuid.uuid4())
        await store.upsert([*gone, *kept])

        await store.delete_collection(owner, c1)

        hits = await store.search(owner, _unit(rng), limit=50)
        assert {hit.id for hit in hits} == {p.id for p in kept}

    async def test_fetch_vectors_returns_the_owners_known_ids_only(
        self, store: VectorStore, rng
    ) -> None:
        owner = uuid.uuid4()
        points = _points(rng, 3, owner=owner, collection=uuid.uuid4(), document=uuid.uuid4())
        await store.upsert(points)
        unknown = uuid.uuid4()

        vectors = await store.fetch_vectors(owner, [points[0].id, points[2].id, unknown])

        assert set(vectors) == {points[0].id, points[2].id}
        assert _cosine(vectors[points[2].id], list(points[2].vector)) == pytest.approx(1.0)


class TestOpening:
    async def test_a_store_refuses_vectors_of_another_size_than_it_holds(
        self, make_store, store_kind: str, tmp_path
    ) -> None:
        where = (
            {"path": str(tmp_path / "same")}
            if store_kind == "qdrant"
            else {"table": f"v_{uuid.uuid4().hex[:12]}"}
        )
        first = await make_store(store_kind, dimensions=DIMS, **where)
        await first.close()
        with pytest.raises(VectorStoreError, match="never mix"):
            await make_store(store_kind, dimensions=DIMS * 2, **where)

    async def test_points_outlive_the_process_that_wrote_them(
        self, make_store, store_kind: str, tmp_path, rng
    ) -> None:
        where = (
            {"path": str(tmp_path / "kept")}
            if store_kind == "qdrant"
            else {"table": f"v_{uuid.uuid4().hex[:12]}"}
        )
        owner = uuid.uuid4()
        points = _points(rng, 3, owner=owner, collection=uuid.uuid4(), document=uuid.uuid4())
        first = await make_store(store_kind, dimensions=DIMS, **where)
        await first.upsert(points)
        await first.close()

        again = await make_store(store_kind, dimensions=DIMS, **where)

        assert len(await again.search(owner, points[0].vector, limit=10)) == 3


class TestEmbeddedQdrant:
    async def test_nothing_is_opened_before_first_use(self, tmp_path) -> None:
        store = QdrantStore(dimensions=DIMS, path=str(tmp_path / "lazy"))
        assert not (tmp_path / "lazy").exists()
        await store.search(uuid.uuid4(), [1.0] * DIMS, limit=1)
        assert (tmp_path / "lazy").exists()
        await store.close()

    async def test_a_folder_in_use_is_refused_with_a_clear_message(self, make_store, tmp_path):
        await make_store("qdrant", dimensions=DIMS, path=str(tmp_path / "busy"))
        with pytest.raises(VectorStoreError, match="already accessed"):
            await make_store("qdrant", dimensions=DIMS, path=str(tmp_path / "busy"))

    def test_path_or_url_not_both(self) -> None:
        with pytest.raises(ValueError, match="either"):
            QdrantStore(dimensions=DIMS, path="qdrant_data", url="http://localhost:6333")
        with pytest.raises(ValueError, match="either"):
            QdrantStore(dimensions=DIMS)


@pytest.mark.pgvector
class TestPgVector:
    async def test_the_table_has_an_hnsw_cosine_index_and_owner_index(
        self, make_store, vector_database: str, embedded_postgres
    ) -> None:
        table = f"v_{uuid.uuid4().hex[:12]}"
        await make_store("pgvector", dimensions=DIMS, table=table)
        database = vector_database.rsplit("/", 1)[1]
        conn = await asyncpg.connect(embedded_postgres.dsn(database))
        try:
            rows = await conn.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = $1", table)
        finally:
            await conn.close()
        definitions = " ".join(row["indexdef"] for row in rows)
        assert "USING hnsw (embedding vector_cosine_ops)" in definitions
        assert "(owner_id, collection_id)" in definitions

    async def test_without_the_extension_it_fails_with_a_clear_message(
        self, embedded_postgres
    ) -> None:
        """A role that may not create the extension (as on a PostgreSQL without pgvector,
        where CREATE EXTENSION fails too): the store says what to do."""
        database = await embedded_postgres.new_database()
        role = f"r_{uuid.uuid4().hex[:8]}"
        await embedded_postgres.execute(f"CREATE ROLE {role} LOGIN")
        store = PgVectorStore(url=embedded_postgres.url(database, role), dimensions=DIMS)
        with pytest.raises(VectorStoreError, match="CREATE EXTENSION vector failed"):
            await store.open()
        await store.close()

    def test_sqlite_is_refused(self) -> None:
        with pytest.raises(VectorStoreError, match="needs PostgreSQL"):
            PgVectorStore(url="sqlite+aiosqlite:///x.db", dimensions=DIMS)
