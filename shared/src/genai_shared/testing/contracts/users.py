"""The open users API of projects 01 and 02 (``/api/v1/users``), and their owner fixtures.

``UsersContract`` needs ``client`` (an ``httpx.AsyncClient`` on the app, tables created),
``make_user`` and ``expect_error`` (from the genai_shared plugin).

In those projects anyone may create a user, and a conversation belongs to the user its
request names by ``user_id``. The fixtures below follow from that alone; the genai_shared
plugin loads this module, so every project has them without importing them (project 03,
whose owners sign in, overrides them in its conftest):

- ``make_user``: ``await make_user(email=None, display_name="Ada")`` creates a user through
  ``client`` and returns its JSON; a user without an email gets the next free one.
- ``register_owner``: ``await register_owner(client)``, a new user as an ``Owner``.
- ``owner``: the ``Owner`` the other contracts act for, registered through ``client``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from genai_shared.testing.contracts.support import ExpectError, Owner, RegisterOwner

USERS = "/api/v1/users"

MakeUser = Callable[..., Awaitable[dict[str, Any]]]


async def create_user(
    client: httpx.AsyncClient, email: str, display_name: str = "Ada"
) -> dict[str, Any]:
    response = await client.post(USERS, json={"email": email, "display_name": display_name})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def register_user(client: httpx.AsyncClient) -> Owner:
    """A new user (a unique email), as an ``Owner`` that names itself in each request."""
    user = await create_user(client, f"owner-{uuid.uuid4().hex[:12]}@example.com")
    return Owner.named_in_request(user["id"])


@pytest.fixture
def make_user(client: httpx.AsyncClient) -> MakeUser:
    counter = itertools.count()

    async def make(email: str | None = None, display_name: str = "Ada") -> dict[str, Any]:
        return await create_user(client, email or f"user{next(counter)}@example.com", display_name)

    return make


@pytest.fixture
def register_owner() -> RegisterOwner:
    return register_user


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Owner:
    return await register_user(client)


class UsersContract:
    """Anyone may create a user; emails are unique whatever their case; bad input is a 422."""

    # --- create ---------------------------------------------------------------------------

    async def test_creates_user(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            USERS, json={"email": "Ada@Example.com", "display_name": " Ada "}
        )
        assert response.status_code == 201
        body = response.json()
        assert body["email"] == "ada@example.com"
        assert body["display_name"] == "Ada"
        assert uuid.UUID(body["id"])
        assert body["created_at"].endswith(("Z", "+00:00"))

    async def test_duplicate_email_is_409_case_insensitive(
        self, client: httpx.AsyncClient, make_user: MakeUser, expect_error: ExpectError
    ) -> None:
        await make_user(email="grace@example.com")
        response = await client.post(
            USERS, json={"email": "GRACE@example.com", "display_name": "G"}
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
    async def test_invalid_body_is_422(
        self, client: httpx.AsyncClient, expect_error: ExpectError, body: dict[str, Any]
    ) -> None:
        error = expect_error(await client.post(USERS, json=body), 422, "ValidationError")
        assert error["details"], "the details say which field is wrong"
        assert all("input" not in detail for detail in error["details"])

    async def test_malformed_json_is_422(
        self, client: httpx.AsyncClient, expect_error: ExpectError
    ) -> None:
        response = await client.post(
            USERS, content=b"{not json", headers={"content-type": "application/json"}
        )
        expect_error(response, 422, "ValidationError")

    # --- get ------------------------------------------------------------------------------

    async def test_unknown_id_is_404(
        self, client: httpx.AsyncClient, expect_error: ExpectError
    ) -> None:
        response = await client.get(f"{USERS}/{uuid.uuid4()}")
        expect_error(response, 404, "UserNotFound")

    async def test_malformed_uuid_is_422(
        self, client: httpx.AsyncClient, expect_error: ExpectError
    ) -> None:
        error = expect_error(await client.get(f"{USERS}/not-a-uuid"), 422, "ValidationError")
        assert error["details"][0]["loc"] == ["path", "user_id"]

    async def test_returns_user(self, client: httpx.AsyncClient, make_user: MakeUser) -> None:
        user = await make_user()
        response = await client.get(f"{USERS}/{user['id']}")
        assert response.status_code == 200
        assert response.json() == user
