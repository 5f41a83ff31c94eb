"""``POST /api/v1/search`` through this project's app: the route, its settings, its
errors and its validation, over the shared search.

What search does (modes, reranking, filters, limits, citations, deleted and rewritten
chunks) is tested once on ``genai_shared.rag.service`` (shared/tests/rag/test_search.py);
here, the app's wiring: the JSON it answers, keyword search on the app's own database
and keyword index, the settings' cap, the 404 and 422 envelopes and the API key scope.
Chunks are written through ``rag.service`` and embedded by the real MiniLM (one per
session); every test runs on embedded Qdrant and on pgvector.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from production_deployment.rag import service
from production_deployment.rag.models import Document

SEARCH = "/api/v1/search"

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


@pytest.fixture(params=["qdrant", pytest.param("pgvector", marks=pytest.mark.pgvector)])
async def app_vector_store(request: pytest.FixtureRequest, make_store, embedder):
    if request.param == "qdrant":
        return None  # the app's own: embedded Qdrant in the test's folder
    return await make_store("pgvector", dimensions=embedder.dimensions)


@pytest.fixture
async def handbook(client, user, add_document) -> dict[str, Any]:
    collection = (await client.post("/api/v1/collections", json={"name": "HR"})).json()
    document = await add_document(
        user.id, collection["id"], HANDBOOK, title="Staff handbook", source="handbook.pdf"
    )
    return {"collection": collection, "document": document}


async def _search(client, **body: Any) -> dict[str, Any]:
    response = await client.post(SEARCH, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _texts(body: dict[str, Any]) -> list[str]:
    return [result["text"] for result in body["results"]]


class TestCitations:
    async def test_each_result_cites_document_page_offsets_and_headings(
        self, client, handbook
    ) -> None:
        body = await _search(client, query="How much paid leave do employees get?")

        top = body["results"][0]
        document: Document = handbook["document"]
        assert top["text"] == HANDBOOK[0]["text"]
        assert top["chunk_id"] == str(service.chunk_id(document.id, 0))
        assert top["citation"] == {
            "document_id": str(document.id),
            "document_title": "Staff handbook",
            "source": "handbook.pdf",
            "collection_id": handbook["collection"]["id"],
            "ordinal": 0,
            "page": 3,
            "last_page": 3,
            "char_start": 0,
            "char_end": len(HANDBOOK[0]["text"]),
            "heading_path": ["Handbook", "Leave"],
        }
        second = next(r for r in body["results"] if r["citation"]["ordinal"] == 1)
        start = len(HANDBOOK[0]["text"]) + 2
        assert (second["citation"]["char_start"], second["citation"]["page"]) == (start, 7)


class TestModes:
    async def test_keyword_finds_an_exact_code(self, client, handbook) -> None:
        body = await _search(client, query="E-4471", mode="keyword")
        assert _texts(body) == [HANDBOOK[1]["text"]]
        assert body["results"][0]["keyword_score"] > 0

    async def test_hybrid_is_the_default_and_fuses_both(self, client, handbook) -> None:
        body = await _search(client, query="badge reader E-4471 offline")

        assert body["mode"] == "hybrid"
        top = body["results"][0]
        assert top["text"] == HANDBOOK[1]["text"]
        assert top["semantic_score"] is not None
        assert top["keyword_score"] is not None
        # Fused: 1/(k+1) from each ranking at the top of both.
        assert top["score"] == pytest.approx(2 / 61)
        assert len(body["results"]) == len(HANDBOOK)  # semantic search ranks every chunk


class TestCollectionFilter:
    async def test_a_collection_that_is_not_mine_is_a_404(
        self, client, anon, handbook, make_user, expect_error
    ) -> None:
        bob = await make_user()
        bobs = await anon.post("/api/v1/collections", json={"name": "B"}, headers=bob.headers)
        mine = handbook["collection"]["id"]
        for ids in ([bobs.json()["id"]], [str(uuid.uuid4())], [mine, str(uuid.uuid4())]):
            response = await client.post(SEARCH, json={"query": "leave", "collection_ids": ids})
            expect_error(response, 404, "CollectionNotFound")


class TestTheCap:
    @pytest.fixture
    def settings_overrides(self, tmp_path) -> dict[str, Any]:
        return {"qdrant_path": str(tmp_path / "q"), "search_max_limit": 2}

    async def test_search_max_limit_applies(self, client, handbook) -> None:
        body = await _search(client, query="handbook", limit=10)
        assert body["limit"] == 2
        assert len(body["results"]) == 2


@pytest.mark.sqlite_only
class TestValidation:
    @pytest.fixture
    def app_vector_store(self) -> None:
        """Checked before any store is reached: embedded Qdrant only."""
        return None

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"query": ""},
            {"query": "   "},
            {"query": "x" * 2001},
            {"query": "x", "mode": "fuzzy"},
            {"query": "x", "rerank": "cross-encoder"},
            {"query": "x", "limit": 0},
            {"query": "x", "mmr_lambda": 1.5},
            {"query": "x", "collection_ids": ["not-a-uuid"]},
            {"query": "x", "collection_ids": [str(uuid.uuid4()) for _ in range(101)]},
            {"query": "x", "owner_id": str(uuid.uuid4())},
        ],
    )
    async def test_invalid_bodies_are_422(self, client, body, expect_error) -> None:
        expect_error(await client.post(SEARCH, json=body), 422, "ValidationError")

    async def test_a_read_only_api_key_may_not_search(
        self, client, anon, make_api_key, expect_error
    ) -> None:
        key = await make_api_key(scopes=["read"])
        response = await anon.post(SEARCH, json={"query": "x"}, headers={"X-API-Key": key["key"]})
        expect_error(response, 403, "InsufficientScope")
        chat_key = await make_api_key(scopes=["chat"])
        response = await anon.post(
            SEARCH, json={"query": "x"}, headers={"X-API-Key": chat_key["key"]}
        )
        assert response.status_code == 200
