"""Keyword search on SQLite (FTS5, bm25) and PostgreSQL (full text, ts_rank_cd), and the
keyword index kept in step with the chunk rows the service writes and deletes.

The models are declared the way a project declares them (``conftest.py``); PostgreSQL is
the embedded one (a fresh database per test). The projects' search API tests run keyword
search on the integration PostgreSQL too.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select, text

from genai_shared.rag import keyword
from genai_shared.rag.service import chunk_id
from genai_shared.rag.stores import SearchFilters


class TestTerms:
    def test_stop_words_and_repeats_are_dropped(self) -> None:
        assert keyword.terms("What is the Rollback rollback plan?") == ["rollback", "plan"]

    def test_a_query_of_stop_words_only_keeps_them(self) -> None:
        assert keyword.terms("who are you") == ["who", "are", "you"]

    def test_at_most_max_terms(self) -> None:
        words = " ".join(f"w{i}" for i in range(100))
        assert len(keyword.terms(words)) == keyword.MAX_TERMS

    def test_fts5_syntax_cannot_be_injected(self) -> None:
        query = keyword.fts5_query(keyword.terms('chunk_id : "x" NEAR(a b) c* ^d OR -e'))
        assert query == '{text} : ("chunk_id" OR "x" OR "near" OR "b" OR "c" OR "d" OR "e")'


class TestSearch:
    async def test_finds_words_best_match_first(self, world) -> None:
        owner = await world.user()
        collection = await world.collection(owner)
        await world.document(
            owner,
            collection,
            "The rollback plan restores the previous release within minutes.",
            "Lunch is served at noon in the cafeteria.",
            "A rollback needs the database migration to be reversible.",
            "Deployment uses blue green switching and a rollback plan for every release.",
        )

        hits = await world.search(owner, "rollback plan")

        texts = await world.texts(hits)
        assert len(texts) == 3
        assert all("rollback" in t for t in texts)
        assert "Lunch" not in " ".join(texts)
        # Both words beat one of them.
        assert "migration" in texts[-1]
        assert hits[0].score >= hits[1].score >= hits[2].score

    async def test_words_are_stemmed(self, world) -> None:
        owner = await world.user()
        collection = await world.collection(owner)
        await world.document(owner, collection, "The workers were running the migrations.")
        hits = await world.search(owner, "run migration")
        assert len(hits) == 1

    async def test_only_the_owners_chunks(self, world) -> None:
        alice, bob = await world.user(), await world.user()
        a_collection = await world.collection(alice)
        a_doc = await world.document(alice, a_collection, "zebracorn canary sentence of alice")
        await world.document(bob, await world.collection(bob), "bob writes about horses")

        for filters in (
            None,
            SearchFilters(collection_ids=frozenset({a_collection})),
            SearchFilters(document_ids=frozenset({a_doc.id})),
        ):
            assert await world.search(bob, "zebracorn canary", filters) == []
        assert len(await world.search(alice, "zebracorn canary")) == 1  # control

    async def test_collection_and_document_filters(self, world) -> None:
        owner = await world.user()
        c1, c2 = await world.collection(owner), await world.collection(owner)
        d1 = await world.document(owner, c1, "alpha one")
        await world.document(owner, c2, "alpha two")

        def only(**ids: frozenset[uuid.UUID]) -> SearchFilters:
            return SearchFilters(**ids)

        assert len(await world.search(owner, "alpha")) == 2
        assert len(await world.search(owner, "alpha", only(collection_ids=frozenset({c2})))) == 1
        assert len(await world.search(owner, "alpha", only(document_ids=frozenset({d1.id})))) == 1
        assert await world.search(owner, "alpha", only(collection_ids=frozenset())) == []

    async def test_query_syntax_is_plain_words(self, world) -> None:
        owner = await world.user()
        doc = await world.document(owner, await world.collection(owner), "plain text here")
        chunk_hex = chunk_id(doc.id, 0).hex
        for query in ['"unbalanced', "NEAR(", "*", f'chunk_id : "{chunk_hex}"', "-- ;", "()"]:
            assert await world.search(owner, query) == [], query

    async def test_limit(self, world) -> None:
        owner = await world.user()
        await world.document(
            owner, await world.collection(owner), *(f"kiwi number {i}" for i in range(5))
        )
        assert len(await world.search(owner, "kiwi", limit=3)) == 3


class TestDeletedChunksDisappear:
    async def test_through_the_service(self, world) -> None:
        owner = await world.user()
        collection = await world.collection(owner)
        gone = await world.document(owner, collection, "ephemeral marmalade")
        kept = await world.document(owner, collection, "lasting marmalade")

        async with world.db.transaction() as session:
            await world.service.delete_document_chunks(
                session=session, store=world.store, document=gone
            )

        hits = await world.search(owner, "marmalade")
        assert [h.id for h in hits] == [chunk_id(kept.id, 0)]

    async def test_when_the_database_cascades(self, world) -> None:
        """A collection, a document or a user deleted in SQL: no trigger is bypassed."""
        owner = await world.user()
        collection = await world.collection(owner)
        await world.document(owner, collection, "cascading quince")
        other = await world.user()
        await world.document(other, await world.collection(other), "cascading quince too")

        Collection, User = world.collection_model, world.user_model
        async with world.db.transaction() as session:
            await session.execute(delete(Collection).where(Collection.id == collection))
        assert await world.search(owner, "quince") == []
        async with world.db.transaction() as session:
            await session.execute(delete(User).where(User.id == other))
        assert await world.search(other, "quince") == []
        await self._index_matches_table(world)

    async def test_rewriting_a_chunk_replaces_its_words(self, world) -> None:
        owner = await world.user()
        doc = await world.document(owner, await world.collection(owner), "old papaya words")
        async with world.db.transaction() as session:
            await world.service.store_document_chunks(
                session=session,
                store=world.store,
                document=doc,
                chunks=world.chunks_for(doc.id, ["new guava words"]),
                vectors=[[1.0, 0.0]],
            )
        assert await world.search(owner, "papaya") == []
        assert len(await world.search(owner, "guava")) == 1
        await self._index_matches_table(world)

    @staticmethod
    async def _index_matches_table(world) -> None:
        if world.db.url.startswith("sqlite"):
            async with world.db.transaction() as session:
                indexed = await session.scalar(text("SELECT count(*) FROM chunk_fts"))
                chunks = await session.scalar(select(func.count()).select_from(world.chunk_model))
            assert indexed == chunks


class TestSqliteIndex:
    async def test_ensure_index_rebuilds_a_missing_or_stale_index(
        self, tmp_path, open_rag_world
    ) -> None:
        async with open_rag_world(f"sqlite+aiosqlite:///{tmp_path}/rebuild.db") as world:
            owner = await world.user()
            await world.document(owner, await world.collection(owner), "persimmon tree")
            async with world.db.engine.begin() as conn:
                await conn.exec_driver_sql("DROP TABLE chunk_fts")
            await keyword.ensure_index(world.db.engine)
            assert len(await world.search(owner, "persimmon")) == 1

            async with world.db.engine.begin() as conn:  # triggers lost, a row written meanwhile
                for name in ("insert", "delete", "update"):
                    await conn.exec_driver_sql(f"DROP TRIGGER chunk_fts_after_{name}")
            await world.document(owner, await world.collection(owner), "persimmon jam")
            assert len(await world.search(owner, "persimmon")) == 1
            await keyword.ensure_index(world.db.engine)
            assert len(await world.search(owner, "persimmon")) == 2

    async def test_drop_all_takes_the_index_with_the_table(self, tmp_path, open_rag_world) -> None:
        url = f"sqlite+aiosqlite:///{tmp_path}/drop.db"
        async with open_rag_world(url) as world, world.db.engine.begin() as conn:
            assert (await conn.exec_driver_sql("SELECT 1 FROM chunk_fts")).all() == []  # made
            await conn.run_sync(world.base.metadata.drop_all)
            rows = await conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name LIKE 'chunk%'"
            )
            assert rows.all() == []
