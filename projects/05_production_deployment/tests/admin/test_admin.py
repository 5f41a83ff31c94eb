"""/api/v1/admin: users list, usage across users, budgets and roles; 403 for users."""

from __future__ import annotations

import pytest


@pytest.fixture
async def admin(make_user):
    return await make_user("root@example.com", role="admin")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/admin/users"),
        ("GET", "/api/v1/admin/usage"),
        ("PATCH", "/api/v1/admin/users/00000000-0000-0000-0000-000000000000"),
    ],
)
async def test_users_get_403(client, expect_error, method, path):
    response = await client.request(method, path, json={"role": "admin"})
    expect_error(response, 403, "AdminRequired")


async def test_an_admins_api_key_is_not_enough(anon, admin, expect_error):
    created = await anon.post("/api/v1/api-keys", json={"name": "k"}, headers=admin.headers)
    key = created.json()["key"]
    response = await anon.get("/api/v1/admin/users", headers={"X-API-Key": key})
    expect_error(response, 403, "LoginRequired")


async def test_lists_users_with_their_spend(anon, admin, user):
    response = await anon.get("/api/v1/admin/users", params={"limit": 1}, headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert [u["email"] for u in body["items"]] == ["owner@example.com"]
    assert body["items"][0]["budget"]["spent_usd"] == "0.000000"
    assert "password_hash" not in response.text
    second = await anon.get(
        "/api/v1/admin/users", params={"cursor": body["next_cursor"]}, headers=admin.headers
    )
    assert [u["email"] for u in second.json()["items"]] == ["root@example.com"]
    assert second.json()["next_cursor"] is None


async def test_sets_a_users_budget_and_role(anon, admin, user, client):
    response = await anon.patch(
        f"/api/v1/admin/users/{user.id}",
        json={"monthly_budget_usd": "12.50", "role": "admin"},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    me = (await client.get("/api/v1/users/me")).json()
    assert (me["monthly_budget_usd"], me["role"]) == ("12.500000", "admin")


async def test_unknown_user_is_404(anon, admin, expect_error):
    response = await anon.patch(
        "/api/v1/admin/users/00000000-0000-0000-0000-000000000000",
        json={"role": "user"},
        headers=admin.headers,
    )
    expect_error(response, 404, "UserNotFound")


async def test_usage_report_covers_every_user(anon, admin, user, client, make_conversation):
    conversation = await make_conversation()
    await client.post(f"/api/v1/conversations/{conversation['id']}/chat", json={"content": "hi"})
    response = await anon.get("/api/v1/admin/usage", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert [(d["user_id"], d["model"], d["calls"]) for d in body["days"]] == [
        (user.id, "echo-1", 1)
    ]
