"""``/api/v1/collections``: create, list, read, delete, only the owner's."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from production_deployment.rag.models import Chunk, Collection, Document

COLLECTIONS = "/api/v1/collections"


async def _count(app, model) -> int:
    async with app.state.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestCreate:
    async def test_creates_a_collection_owned_by_the_caller(self, client, user) -> None:
        response = await client.post(COLLECTIONS, json={"name": "  Handbook ", "description": "HR"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["name"] == "Handbook"
        assert body["description"] == "HR"
        assert body["owner_id"] == user.id
        assert (await client.get(f"{COLLECTIONS}/{body['id']}")).json() == body

    async def test_the_owner_comes_from_the_credential_not_the_body(
        self, client, user, make_user, expect_error
    ) -> None:
        other = await make_user()
        response = await client.post(COLLECTIONS, json={"name": "x", "owner_id": other.id})
        expect_error(response, 422, "ValidationError")

    async def test_names_are_unique_per_owner(self, client, anon, make_user, expect_error):
        assert (await client.post(COLLECTIONS, json={"name": "Notes"})).status_code == 201
        expect_error(
            await client.post(COLLECTIONS, json={"name": "Notes"}), 409, "CollectionNameTaken"
        )
        bob = await make_user()
        response = await anon.post(COLLECTIONS, json={"name": "Notes"}, headers=bob.headers)
        assert response.status_code == 201

    @pytest.mark.sqlite_only
    @pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}])
    async def test_invalid_bodies(self, client, body, expect_error) -> None:
        expect_error(await client.post(COLLECTIONS, json=body), 422, "ValidationError")

    async def test_needs_a_credential(self, anon, expect_error) -> None:
        expect_error(await anon.post(COLLECTIONS, json={"name": "x"}), 401, "NotAuthenticated")


class TestList:
    async def test_newest_first_in_pages_and_only_mine(self, client, anon, make_user) -> None:
        for name in ("one", "two", "three"):
            assert (await client.post(COLLECTIONS, json={"name": name})).status_code == 201
        bob = await make_user()
        await anon.post(COLLECTIONS, json={"name": "bob's"}, headers=bob.headers)

        first = (await client.get(COLLECTIONS, params={"limit": 2})).json()
        second = (
            await client.get(COLLECTIONS, params={"limit": 2, "cursor": first["next_cursor"]})
        ).json()

        assert [c["name"] for c in first["items"]] == ["three", "two"]
        assert [c["name"] for c in second["items"]] == ["one"]
        assert second["next_cursor"] is None


class TestOwnership:
    async def test_another_users_collection_is_a_404_and_stays(
        self, app, client, anon, make_user, expect_error
    ) -> None:
        created = (await client.post(COLLECTIONS, json={"name": "mine"})).json()
        path = f"{COLLECTIONS}/{created['id']}"
        bob = await make_user()

        expect_error(await anon.get(path, headers=bob.headers), 404, "CollectionNotFound")
        expect_error(await anon.delete(path, headers=bob.headers), 404, "CollectionNotFound")
        assert (await client.get(path)).status_code == 200
        missing = f"{COLLECTIONS}/{uuid.uuid4()}"
        expect_error(await client.get(missing), 404, "CollectionNotFound")


class TestDelete:
    async def test_removes_documents_chunks_and_vectors_everywhere(
        self, app, client, user, add_document, expect_error
    ) -> None:
        kept = (await client.post(COLLECTIONS, json={"name": "kept"})).json()
        gone = (await client.post(COLLECTIONS, json={"name": "gone"})).json()
        await add_document(user.id, kept["id"], ["The quarterly tangerine report is due."])
        await add_document(user.id, gone["id"], ["Tangerine harvest notes, first field."])
        await add_document(user.id, gone["id"], ["Tangerine harvest notes, second field."])

        response = await client.delete(f"{COLLECTIONS}/{gone['id']}")

        assert response.status_code == 204
        expect_error(await client.get(f"{COLLECTIONS}/{gone['id']}"), 404, "CollectionNotFound")
        assert await _count(app, Document) == 1
        assert await _count(app, Chunk) == 1
        assert await _count(app, Collection) == 1
        for mode in ("semantic", "keyword", "hybrid"):
            found = (
                await client.post("/api/v1/search", json={"query": "tangerine", "mode": mode})
            ).json()["results"]
            assert [r["citation"]["collection_id"] for r in found] == [kept["id"]], mode
        hits = await app.state.vector_store.search(uuid.UUID(user.id), [0.1] * 384, limit=50)
        assert {str(hit.collection_id) for hit in hits} == {kept["id"]}
