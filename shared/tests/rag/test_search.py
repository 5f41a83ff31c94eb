"""``RagService.search``: modes, reranking, filters, limits and citations.

Chunks are written through the service and embedded by the real MiniLM (one per
session); every test runs on embedded Qdrant and on pgvector. The projects' own tests
call the same search through their ``POST /search`` routes.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from genai_shared.rag.exceptions import CollectionNotFound
from genai_shared.rag.schemas import SearchResponse
from genai_shared.rag.service import chunk_id

HANDBOOK = [
    {
        "text": "Staff receive twenty-five days of paid annual leave each year.",
        "heading_path": ("Handbook", "Leave"),
        "page": 3,
    },
    {
        "text": "Error E-4471 means the badge reader at the front door is offline.",
        "heading_path": ("Handbook", "Facilities", "Badges"),
        "page": 7,
    },
    {
        "text": "Expense reports are filed monthly through the finance portal.",
        "heading_path": ("Handbook", "Money"),
        "page": 9,
    },
    {
        "text": "The server room is cooled to eighteen degrees at all times.",
        "heading_path": ("Handbook", "Facilities"),
        "page": 11,
    },
]


@pytest.fixture
async def handbook(search_world) -> dict[str, Any]:
    owner = await search_world.user()
    collection = await search_world.collection(owner)
    document = await search_world.add_document(
        owner, collection, HANDBOOK, title="Staff handbook", source="handbook.pdf"
    )
    return {"owner": owner, "collection": collection, "document": document}


def _texts(response: SearchResponse) -> list[str]:
    return [result.text for result in response.results]


class TestCitations:
    async def test_each_result_cites_document_page_offsets_and_headings(
        self, search_world, handbook
    ) -> None:
        response = await search_world.search_as(
            handbook["owner"], query="How much paid leave do employees get?"
        )

        top = response.results[0]
        document = handbook["document"]
        assert top.text == HANDBOOK[0]["text"]
        assert top.chunk_id == chunk_id(document.id, 0)
        assert top.citation.model_dump(mode="json") == {
            "document_id": str(document.id),
            "document_title": "Staff handbook",
            "source": "handbook.pdf",
            "collection_id": str(handbook["collection"]),
            "ordinal": 0,
            "page": 3,
            "last_page": 3,
            "char_start": 0,
            "char_end": len(HANDBOOK[0]["text"]),
            "heading_path": ["Handbook", "Leave"],
        }
        second = next(r for r in response.results if r.citation.ordinal == 1)
        start = len(HANDBOOK[0]["text"]) + 2
        assert (second.citation.char_start, second.citation.page) == (start, 7)


class TestModes:
    async def test_semantic_finds_a_paraphrase_that_shares_no_word(
        self, search_world, handbook
    ) -> None:
        owner = handbook["owner"]
        semantic = await search_world.search_as(owner, query="vacation allowance", mode="semantic")
        keyword = await search_world.search_as(owner, query="vacation allowance", mode="keyword")

        assert _texts(semantic)[0] == HANDBOOK[0]["text"]
        assert semantic.results[0].semantic_score == semantic.results[0].score
        assert keyword.results == []

    async def test_keyword_finds_an_exact_code(self, search_world, handbook) -> None:
        response = await search_world.search_as(handbook["owner"], query="E-4471", mode="keyword")
        assert _texts(response) == [HANDBOOK[1]["text"]]
        assert response.results[0].keyword_score is not None
        assert response.results[0].keyword_score > 0

    async def test_hybrid_is_the_default_and_fuses_both(self, search_world, handbook) -> None:
        response = await search_world.search_as(
            handbook["owner"], query="badge reader E-4471 offline"
        )

        assert response.mode == "hybrid"
        top = response.results[0]
        assert top.text == HANDBOOK[1]["text"]
        assert top.semantic_score is not None
        assert top.keyword_score is not None
        # Fused: 1/(k+1) from each ranking at the top of both.
        assert top.score == pytest.approx(2 / 61)
        assert len(response.results) == len(HANDBOOK)  # semantic search ranks every chunk

    async def test_mmr_makes_room_for_something_new(self, search_world) -> None:
        owner = await search_world.user()
        parking = [
            "Parking permits for the staff car park are renewed every January.",
            "Staff car park parking permits must be renewed each January.",
            "Every January, renew your parking permit for the staff car park.",
        ]
        other = "Bicycles can be stored in the locked shed behind building B."
        await search_world.add_document(
            owner, await search_world.collection(owner), [*parking, other]
        )
        query = {"query": "parking permit for my car", "mode": "semantic", "limit": 2}

        plain = await search_world.search_as(owner, **query)
        diverse = await search_world.search_as(owner, **query, rerank="mmr", mmr_lambda=0.3)

        assert set(_texts(plain)) <= set(parking)
        assert _texts(diverse)[0] in parking
        assert _texts(diverse)[1] not in parking
        assert diverse.rerank == "mmr"

    async def test_mmr_on_keyword_results_fetches_their_vectors(
        self, search_world, handbook
    ) -> None:
        response = await search_world.search_as(
            handbook["owner"], query="handbook badge reader", mode="keyword", rerank="mmr"
        )
        assert _texts(response) == [HANDBOOK[1]["text"]]


class TestFiltersAndLimits:
    async def test_collection_and_document_filters(self, search_world, handbook) -> None:
        owner = handbook["owner"]
        other = await search_world.collection(owner)
        it_doc = await search_world.add_document(owner, other, ["Reset a password on the portal."])

        only_it = await search_world.search_as(owner, query="portal", collection_ids=[other])
        only_doc = await search_world.search_as(owner, query="portal", document_ids=[it_doc.id])
        both = await search_world.search_as(owner, query="portal")

        assert _texts(only_it) == ["Reset a password on the portal."]
        assert _texts(only_doc) == ["Reset a password on the portal."]
        assert len(both.results) == len(HANDBOOK) + 1

    async def test_a_collection_that_is_not_the_owners_is_not_found(
        self, search_world, handbook
    ) -> None:
        bob = await search_world.user()
        bobs = await search_world.collection(bob)
        mine = handbook["collection"]
        for ids in ([bobs], [uuid.uuid4()], [mine, uuid.uuid4()]):
            with pytest.raises(CollectionNotFound):
                await search_world.search_as(handbook["owner"], query="leave", collection_ids=ids)
        # Bob, with his own collection named, does not see the handbook either.
        response = await search_world.search_as(bob, query="leave", collection_ids=[bobs])
        assert response.results == []

    async def test_the_limit_is_capped(self, search_world, handbook) -> None:
        owner = handbook["owner"]
        assert len((await search_world.search_as(owner, query="handbook", limit=2)).results) == 2
        response = await search_world.search_as(owner, query="handbook", limit=200)
        assert response.limit == 50  # SEARCH_MAX_LIMIT's default
        assert len(response.results) == len(HANDBOOK)

    async def test_search_max_limit_applies(self, search_world, handbook) -> None:
        search_world.settings = search_world.settings.model_copy(update={"search_max_limit": 2})
        response = await search_world.search_as(handbook["owner"], query="handbook", limit=10)
        assert response.limit == 2
        assert len(response.results) == 2


class TestDeletingADocument:
    async def test_its_chunks_leave_every_index(self, search_world, handbook) -> None:
        owner = handbook["owner"]
        async with search_world.db.transaction() as session:
            await search_world.service.delete_document_chunks(
                session=session, store=search_world.store, document=handbook["document"]
            )

        for mode in ("semantic", "keyword", "hybrid"):
            response = await search_world.search_as(
                owner, query="badge reader E-4471 leave", mode=mode
            )
            assert response.results == [], mode
        assert await search_world.store.search(owner, [0.1] * 384, limit=10) == []

    async def test_writing_it_again_leaves_one_copy(self, search_world, handbook) -> None:
        document = handbook["document"]
        chunks = search_world.chunks_for(document.id, [s["text"] for s in HANDBOOK])
        vectors = await search_world.embedder.embed([chunk.text for chunk in chunks])
        async with search_world.db.transaction() as session:
            await search_world.service.store_document_chunks(
                session=session,
                store=search_world.store,
                document=document,
                chunks=chunks,
                vectors=vectors,
            )
        response = await search_world.search_as(
            handbook["owner"], query="handbook leave badge expense server", limit=20
        )
        assert sorted(_texts(response)) == sorted(section["text"] for section in HANDBOOK)
