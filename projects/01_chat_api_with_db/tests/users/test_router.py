"""The users API: the shared contract, then how project 01 keeps an email unique."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from chat_api_with_db.users.models import User
from genai_shared.testing.contracts.users import USERS, UsersContract


class TestUsers(UsersContract):
    pass


class TestUniqueEmail:
    async def test_the_email_is_stored_lower_cased(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        body = {"email": "Mixed.Case@Example.COM", "display_name": "M"}
        created = (await client.post(USERS, json=body)).json()
        async with app.state.db.sessionmaker() as session:
            stored = await session.scalar(
                select(User.email).where(User.id == uuid.UUID(created["id"]))
            )
        assert stored == "mixed.case@example.com"

    async def test_the_database_refuses_a_duplicate_the_check_did_not_see(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        """A concurrent request passes the service's check; the unique constraint stops it."""
        await client.post(USERS, json={"email": "ada@example.com", "display_name": "Ada"})
        with pytest.raises(IntegrityError):
            async with app.state.db.transaction() as session:
                session.add(User(email="ada@example.com", display_name="Twin"))
        async with app.state.db.sessionmaker() as session:
            names = (await session.scalars(select(User.display_name))).all()
        assert names == ["Ada"]
