from __future__ import annotations

import uuid

import pytest


class TestCreate:
    async def test_creates_user(self, client):
        response = await client.post(
            "/api/v1/users", json={"email": "Ada@Example.com", "display_name": " Ada "}
        )
        assert response.status_code == 201
        body = response.json()
        assert body["email"] == "ada@example.com"
        assert body["display_name"] == "Ada"
        assert uuid.UUID(body["id"])
        assert body["created_at"].endswith(("Z", "+00:00"))

    async def test_duplicate_email_is_409_case_insensitive(self, client, make_user, expect_error):
        await make_user(email="grace@example.com")
        response = await client.post(
            "/api/v1/users", json={"email": "GRACE@example.com", "display_name": "G"}
        )
        expect_error(response, 409, "EmailAlreadyRegistered")

    @pytest.mark.parametrize(
        "body",
        [
            {"email": "not-an-email", "display_name": "x"},
            {"email": "a@example.com", "display_name": ""},
            {"email": "a@example.com", "display_name": "x" * 101},
            {"email": "a@example.com"},
            {"email": "a@example.com", "display_name": "x", "role": "admin"},
        ],
        ids=["bad-email", "empty-name", "long-name", "missing-name", "unknown-field"],
    )
    async def test_invalid_body_is_422(self, client, expect_error, body):
        error = expect_error(await client.post("/api/v1/users", json=body), 422, "ValidationError")
        assert error["details"], "the details say which field is wrong"
        assert all("input" not in detail for detail in error["details"])

    async def test_malformed_json_is_422(self, client, expect_error):
        response = await client.post(
            "/api/v1/users", content=b"{not json", headers={"content-type": "application/json"}
        )
        expect_error(response, 422, "ValidationError")


class TestGet:
    async def test_returns_user(self, client, make_user):
        user = await make_user()
        response = await client.get(f"/api/v1/users/{user['id']}")
        assert response.status_code == 200
        assert response.json() == user

    async def test_unknown_id_is_404(self, client, expect_error):
        response = await client.get(f"/api/v1/users/{uuid.uuid4()}")
        expect_error(response, 404, "UserNotFound")

    async def test_malformed_uuid_is_422(self, client, expect_error):
        error = expect_error(await client.get("/api/v1/users/not-a-uuid"), 422, "ValidationError")
        assert error["details"][0]["loc"] == ["path", "user_id"]
