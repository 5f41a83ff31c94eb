"""What the contracts and the projects' conftests share: backends, owners, a served app.

- ``backend_settings``: turns the plugin's ``backend`` (SQLite with the in-process cache, or
  PostgreSQL with the real Redis) into the settings a project's app is built with.
- ``serve_with_tables``: the app in process, its tables created for the test's duration.
- ``Owner``: who the conversations of a request belong to. Projects 01 and 02 name the user
  in the request (``user_id``); project 03 takes the user from the credential. A contract
  sends ``owner.fields`` and ``owner.headers`` with every conversation request, so the same
  test reads right for both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import MetaData

from genai_shared.testing.plugin import serve_in_process

CONVERSATIONS = "/api/v1/conversations"

ExpectError = Callable[[httpx.Response, int, str], dict[str, Any]]
AppFactory = Callable[..., FastAPI]


@dataclass(frozen=True)
class Owner:
    """A user who owns conversations, and what a request carries to act as them.

    ``fields`` go into the body of a create and the query of a list (01/02: ``user_id``);
    ``headers`` carry the credential (03: a bearer token).
    """

    id: str
    fields: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def named_in_request(cls, user_id: str) -> Owner:
        return cls(user_id, fields={"user_id": user_id})

    @classmethod
    def signed_in(cls, user_id: str, headers: Mapping[str, str]) -> Owner:
        return cls(user_id, headers=dict(headers))


RegisterOwner = Callable[[httpx.AsyncClient], Awaitable[Owner]]


async def backend_settings(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings that point an app at ``backend``'s database, and its Redis if any.

    Redis is flushed first: a page cached by an earlier test must not answer this one.
    """
    if backend == "sqlite":
        return {"database_url": request.getfixturevalue("sqlite_url")}
    redis_url = str(request.getfixturevalue("redis_url"))
    redis = Redis.from_url(redis_url, socket_timeout=2)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": redis_url,
        # Generous on a busy CI box: a Redis timeout would skip the cache under test
        # (and, where chat fails closed, turn a reply into a 503).
        "redis_timeout_seconds": 5,
    }


@asynccontextmanager
async def serve_with_tables(app: FastAPI, metadata: MetaData) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` in process (lifespan included) with ``metadata``'s tables created.

    The tables are dropped again afterwards: the PostgreSQL database lives for the session.
    """
    async with serve_in_process(app) as client:
        async with app.state.db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        try:
            yield client
        finally:
            async with app.state.db.engine.begin() as conn:
                await conn.run_sync(metadata.drop_all)


async def create_conversation(
    client: httpx.AsyncClient, owner: Owner, /, **body: Any
) -> httpx.Response:
    """``POST /conversations`` as ``owner``; the caller checks the response.

    Positional-only: a body may carry any field name, ``owner`` included.
    """
    return await client.post(
        CONVERSATIONS, json={**owner.fields, **body}, headers=dict(owner.headers)
    )


async def new_conversation(
    client: httpx.AsyncClient, owner: Owner, /, title: str = "A chat", **body: Any
) -> dict[str, Any]:
    """A conversation of ``owner``'s, created through the API."""
    response = await create_conversation(client, owner, title=title, **body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def list_conversations(
    client: httpx.AsyncClient, owner: Owner, /, **params: Any
) -> httpx.Response:
    """``GET /conversations`` as ``owner``; the caller checks the response."""
    return await client.get(
        CONVERSATIONS, params={**owner.fields, **params}, headers=dict(owner.headers)
    )


async def conversation_titles(client: httpx.AsyncClient, owner: Owner) -> list[str]:
    """The titles on the first page of ``owner``'s conversations, newest first."""
    response = await list_conversations(client, owner)
    assert response.status_code == 200
    return [c["title"] for c in response.json()["items"]]
