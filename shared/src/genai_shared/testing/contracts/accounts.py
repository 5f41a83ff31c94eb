"""Signup, login, refresh-token rotation and logout of a project whose users sign in (03, 04,
05).

Fixtures a project's conftest provides:

- ``app``: the app; ``anon``: a client with no credentials, tables created.
- ``client``: a client signed in as ``user``, the default user (``owner@example.com``,
  display name ``Ada``, signed up with ``PASSWORD``): its ``id``, ``email``, ``password``,
  ``tokens`` (the login's token pair) and ``headers``.
- ``make_user(email=None, **values)``: signs up and logs in another user (``values`` set
  behind the API's back, e.g. ``is_active=False``).
- ``make_api_key()``: an API key of ``user``'s (its ``key``).
- ``expect_error``: from the genai_shared plugin.

Class attributes a subclass sets: ``user_model`` (the ``User`` model) and
``refresh_token_model`` (the ``RefreshToken`` model).

The tests checked before the database is reached are marked ``sqlite_only`` here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from genai_shared.testing.contracts.support import ExpectError

MakeUser = Callable[..., Awaitable[Any]]
MakeApiKey = Callable[..., Awaitable[dict[str, Any]]]

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"
PASSWORD = "correct horse battery staple"  # noqa: S105 (the conftest's test password)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class _Models:
    user_model: ClassVar[type[Any]]
    refresh_token_model: ClassVar[type[Any]]


class SignupContract(_Models):
    async def test_creates_a_user_with_defaults(
        self, app: FastAPI, anon: httpx.AsyncClient
    ) -> None:
        response = await anon.post(
            SIGNUP,
            json={"email": "Ada@Example.com", "display_name": " Ada ", "password": PASSWORD},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["email"] == "ada@example.com"
        assert body["display_name"] == "Ada"
        assert body["role"] == "user"
        assert body["monthly_budget_usd"] == "5.000000"
        assert "password" not in response.text
        async with app.state.db.sessionmaker() as session:
            user = await session.scalar(select(self.user_model))
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash

    async def test_duplicate_email_is_409_case_insensitive(
        self, anon: httpx.AsyncClient, make_user: MakeUser, expect_error: ExpectError
    ) -> None:
        await make_user("grace@example.com")
        response = await anon.post(
            SIGNUP, json={"email": "GRACE@example.com", "display_name": "G", "password": PASSWORD}
        )
        expect_error(response, 409, "EmailAlreadyRegistered")

    @pytest.mark.parametrize(
        "patch",
        [
            {"email": "not-an-email"},
            {"display_name": ""},
            {"password": "short"},
            {"password": " " * 12},
            {"role": "admin"},
            {"monthly_budget_usd": "1000"},
            {"spent_usd": "0"},
            {"is_active": True},
        ],
        ids=[
            "bad-email",
            "empty-name",
            "short-password",
            "blank-password",
            "role",
            "budget",
            "spend",
            "is-active",
        ],
    )
    @pytest.mark.sqlite_only
    async def test_invalid_or_privileged_fields_are_422(
        self,
        app: FastAPI,
        anon: httpx.AsyncClient,
        expect_error: ExpectError,
        patch: dict[str, Any],
    ) -> None:
        body = {"email": "a@example.com", "display_name": "A", "password": PASSWORD, **patch}
        error = expect_error(await anon.post(SIGNUP, json=body), 422, "ValidationError")
        assert all("input" not in detail for detail in error["details"])
        assert PASSWORD not in str(error)
        async with app.state.db.sessionmaker() as session:
            assert await session.scalar(select(self.user_model)) is None


class LoginContract(_Models):
    async def test_returns_a_token_pair_that_works(
        self, anon: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        account = await make_user()
        tokens = account.tokens
        assert tokens["token_type"] == "bearer"  # noqa: S105
        assert tokens["expires_in"] == 15 * 60
        assert tokens["refresh_token"]
        me = await anon.get(ME, headers=_bearer(tokens["access_token"]))
        assert me.status_code == 200
        assert me.json()["id"] == account.id

    async def test_wrong_password_and_unknown_email_look_the_same(
        self, anon: httpx.AsyncClient, make_user: MakeUser, expect_error: ExpectError
    ) -> None:
        account = await make_user()
        wrong = await anon.post(LOGIN, data={"username": account.email, "password": "x" * 12})
        unknown = await anon.post(LOGIN, data={"username": "nobody@x.io", "password": PASSWORD})
        first = expect_error(wrong, 401, "InvalidLogin")
        second = expect_error(unknown, 401, "InvalidLogin")
        assert first["message"] == second["message"]
        assert wrong.headers["www-authenticate"] == "Bearer"

    async def test_a_deactivated_user_cannot_log_in(
        self, app: FastAPI, anon: httpx.AsyncClient, make_user: MakeUser, expect_error: ExpectError
    ) -> None:
        account = await make_user(is_active=False)
        response = await anon.post(
            LOGIN, data={"username": account.email, "password": account.password}
        )
        expect_error(response, 401, "InvalidLogin")
        expect_error(await anon.get(ME, headers=account.headers), 401, "NotAuthenticated")

    @pytest.mark.parametrize(
        ("username", "password"),
        [
            ("' OR '1'='1", "' OR '1'='1"),
            ("owner@example.com' --", "anything"),
            ("owner@example.com", '\' OR 1=1; DROP TABLE "user"; --'),
            ('"; SELECT pg_sleep(5); --', "x"),
        ],
    )
    async def test_sql_injection_in_the_form_is_just_a_failed_login(
        self,
        app: FastAPI,
        anon: httpx.AsyncClient,
        user: Any,
        expect_error: ExpectError,
        username: str,
        password: str,
    ) -> None:
        response = await anon.post(LOGIN, data={"username": username, "password": password})
        expect_error(response, 401, "InvalidLogin")
        async with app.state.db.sessionmaker() as session:
            assert len(list(await session.scalars(select(self.user_model)))) == 1

    async def test_json_instead_of_the_form_is_422(
        self, anon: httpx.AsyncClient, user: Any, expect_error: ExpectError
    ) -> None:
        response = await anon.post(LOGIN, json={"username": user.email, "password": PASSWORD})
        expect_error(response, 422, "ValidationError")


class RefreshContract(_Models):
    async def test_rotates_the_pair(self, anon: httpx.AsyncClient, user: Any) -> None:
        old = user.tokens
        response = await anon.post(REFRESH, json={"refresh_token": old["refresh_token"]})
        assert response.status_code == 200, response.text
        new = response.json()
        assert new["refresh_token"] != old["refresh_token"]
        assert new["access_token"] != old["access_token"]
        assert (await anon.get(ME, headers=_bearer(new["access_token"]))).status_code == 200

    async def test_a_reused_refresh_token_revokes_the_whole_family(
        self, app: FastAPI, anon: httpx.AsyncClient, user: Any, expect_error: ExpectError
    ) -> None:
        first = user.tokens["refresh_token"]
        second = (await anon.post(REFRESH, json={"refresh_token": first})).json()
        # The first token again: it was stolen, or the client is confused. Either way:
        expect_error(
            await anon.post(REFRESH, json={"refresh_token": first}), 401, "InvalidRefreshToken"
        )
        # ... every token of the session is now dead, the newest ones included.
        expect_error(
            await anon.post(REFRESH, json={"refresh_token": second["refresh_token"]}),
            401,
            "InvalidRefreshToken",
        )
        expect_error(
            await anon.get(ME, headers=_bearer(second["access_token"])), 401, "NotAuthenticated"
        )
        async with app.state.db.sessionmaker() as session:
            rows = list(await session.scalars(select(self.refresh_token_model)))
        assert len(rows) == 2
        assert all(row.revoked_at is not None for row in rows)
        assert len({row.family_id for row in rows}) == 1
        assert rows[0].token_hash != first  # stored hashed, never as issued

    async def test_another_login_session_is_not_affected(
        self, anon: httpx.AsyncClient, user: Any
    ) -> None:
        other = (
            await anon.post(LOGIN, data={"username": user.email, "password": user.password})
        ).json()
        first = user.tokens["refresh_token"]
        await anon.post(REFRESH, json={"refresh_token": first})
        await anon.post(REFRESH, json={"refresh_token": first})  # reuse: revokes family 1
        assert (await anon.get(ME, headers=_bearer(other["access_token"]))).status_code == 200

    @pytest.mark.parametrize("token", ["nope", "' OR 1=1 --", "x" * 256])
    async def test_an_unknown_refresh_token_is_401(
        self, anon: httpx.AsyncClient, user: Any, expect_error: ExpectError, token: str
    ) -> None:
        expect_error(
            await anon.post(REFRESH, json={"refresh_token": token}), 401, "InvalidRefreshToken"
        )

    async def test_an_access_token_is_not_a_refresh_token(
        self, anon: httpx.AsyncClient, user: Any, expect_error: ExpectError
    ) -> None:
        response = await anon.post(REFRESH, json={"refresh_token": user.tokens["access_token"]})
        expect_error(response, 422, "ValidationError")  # longer than any refresh token


class LogoutContract(_Models):
    async def test_revokes_the_access_and_refresh_tokens(
        self, anon: httpx.AsyncClient, user: Any, expect_error: ExpectError
    ) -> None:
        assert (await anon.post(LOGOUT, headers=user.headers)).status_code == 204
        expect_error(await anon.get(ME, headers=user.headers), 401, "NotAuthenticated")
        expect_error(
            await anon.post(REFRESH, json={"refresh_token": user.tokens["refresh_token"]}),
            401,
            "InvalidRefreshToken",
        )

    async def test_needs_an_access_token(
        self,
        anon: httpx.AsyncClient,
        expect_error: ExpectError,
        make_api_key: MakeApiKey,
        user: Any,
    ) -> None:
        expect_error(await anon.post(LOGOUT), 401, "NotAuthenticated")
        key = await make_api_key()
        expect_error(await anon.post(LOGOUT, headers=_bearer(key["key"])), 403, "LoginRequired")


class MeContract(_Models):
    async def test_update_display_name(self, client: httpx.AsyncClient) -> None:
        response = await client.patch(ME, json={"display_name": "Grace"})
        assert response.status_code == 200
        assert response.json()["display_name"] == "Grace"

    @pytest.mark.parametrize(
        "body",
        [
            {"role": "admin"},
            {"monthly_budget_usd": "1000"},
            {"spent_micro_usd": 0},
            {"id": "00000000-0000-0000-0000-000000000000"},
            {"email": "other@example.com"},
            {"display_name": "X", "role": "admin"},
        ],
    )
    @pytest.mark.sqlite_only
    async def test_mass_assignment_is_422_and_changes_nothing(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        user: Any,
        expect_error: ExpectError,
        body: dict[str, Any],
    ) -> None:
        expect_error(await client.patch(ME, json=body), 422, "ValidationError")
        async with app.state.db.sessionmaker() as session:
            row = await session.get(self.user_model, uuid.UUID(user.id))
        assert (row.role, row.email, row.display_name) == ("user", user.email, "Ada")
        assert row.monthly_budget_micro_usd == 5_000_000
