"""Tenant isolation: user B never sees user A's documents, chunks or citations.

A's document carries a canary string. B searches for it in every mode, with and without
reranking, naming nothing, naming A's collection, naming A's document; on embedded
Qdrant and on pgvector. The canary must never be in B's response body, and A's own
search must find it (otherwise the test could pass by finding nothing at all).
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import httpx
import pytest

from genai_shared.rag.stores import SearchFilters

SEARCH = "/api/v1/search"
CANARY = "QX7-CANARY-93f1"
CANARY_TEXT = f"Alice's vault code is {CANARY}; the vault holds the quarterly zebra ledgers."
MODES = ["semantic", "keyword", "hybrid"]
RERANKS = [None, "mmr"]


@pytest.fixture(params=["qdrant", pytest.param("pgvector", marks=pytest.mark.pgvector)])
async def app_vector_store(request: pytest.FixtureRequest, make_store, embedder):
    if request.param == "qdrant":
        return None
    return await make_store("pgvector", dimensions=embedder.dimensions)


@pytest.fixture
async def alice_and_bob(client, anon, user, make_user, add_document) -> dict[str, Any]:
    """A (``user``) has the canary; B has a similar document of their own."""
    a_collection = (await client.post("/api/v1/collections", json={"name": "Vault"})).json()
    a_document = await add_document(
        user.id, a_collection["id"], [CANARY_TEXT], title="Alice's secrets", source="vault.txt"
    )
    bob = await make_user()
    b_collection = (
        await anon.post("/api/v1/collections", json={"name": "Vault"}, headers=bob.headers)
    ).json()
    await add_document(bob.id, b_collection["id"], ["Bob's vault holds the annual zebra ledgers."])
    return {
        "a_collection": a_collection["id"],
        "a_document": str(a_document.id),
        "bob": bob,
    }


def _leaks(response: httpx.Response, world: dict[str, Any]) -> list[str]:
    """A's text, title, source or ids in what B got back (B's own query and the ids B
    sent are echoed: the results, or the error's message, are what is checked)."""
    body = response.json()
    if response.status_code == 200:
        seen = json.dumps(body["results"])
        markers = [world["a_document"], world["a_collection"]]
    else:
        seen = body["error"]["message"]
        markers = []
    markers += [CANARY, "Alice's secrets", "vault.txt", "quarterly zebra"]
    return [marker for marker in markers if marker in seen]


async def test_b_never_sees_as_canary(anon, client, alice_and_bob, expect_error) -> None:
    bob_headers = alice_and_bob["bob"].headers
    for mode, rerank in itertools.product(MODES, RERANKS):
        for query in (CANARY, CANARY_TEXT):
            base = {"query": query, "mode": mode, "rerank": rerank, "limit": 50}

            plain = await anon.post(SEARCH, json=base, headers=bob_headers)
            by_document = await anon.post(
                SEARCH,
                json={**base, "document_ids": [alice_and_bob["a_document"]]},
                headers=bob_headers,
            )
            by_collection = await anon.post(
                SEARCH,
                json={**base, "collection_ids": [alice_and_bob["a_collection"]]},
                headers=bob_headers,
            )

            assert plain.status_code == 200, plain.text
            assert by_document.status_code == 200, by_document.text
            assert by_document.json()["results"] == []
            expect_error(by_collection, 404, "CollectionNotFound")
            for response in (plain, by_document, by_collection):
                assert _leaks(response, alice_and_bob) == [], (mode, rerank, query)

        # Control: the canary is there to be found, by its owner.
        own = await client.post(SEARCH, json={"query": CANARY_TEXT, "mode": mode})
        assert CANARY in own.text, mode


async def test_b_cannot_reach_as_collection_by_its_id(anon, alice_and_bob, expect_error):
    bob_headers = alice_and_bob["bob"].headers
    path = f"/api/v1/collections/{alice_and_bob['a_collection']}"
    expect_error(await anon.get(path, headers=bob_headers), 404, "CollectionNotFound")
    expect_error(await anon.delete(path, headers=bob_headers), 404, "CollectionNotFound")
    listed = await anon.get("/api/v1/collections", headers=bob_headers)
    assert alice_and_bob["a_collection"] not in listed.text


async def test_the_store_itself_filters_by_owner(app, embedder, alice_and_bob) -> None:
    """Below the API: B's id with A's exact vector and A's collection and document."""
    (vector,) = await embedder.embed([CANARY_TEXT])
    bob = uuid.UUID(alice_and_bob["bob"].id)
    a_document = uuid.UUID(alice_and_bob["a_document"])
    filters = SearchFilters(
        collection_ids=frozenset({uuid.UUID(alice_and_bob["a_collection"])}),
        document_ids=frozenset({a_document}),
    )
    assert await app.state.vector_store.search(bob, vector, limit=10, filters=filters) == []
    for hit in await app.state.vector_store.search(bob, vector, limit=10):
        assert hit.document_id != a_document
