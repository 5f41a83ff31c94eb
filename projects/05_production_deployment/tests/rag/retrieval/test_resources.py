"""The lifespan opens the store the settings name, and refuses a broken one at start."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from genai_shared.rag.stores import VectorStoreError
from genai_shared.rag.stores.pgvector import PgVectorStore
from genai_shared.rag.stores.qdrant import QdrantStore
from production_deployment.main import create_app


async def test_embedded_qdrant_is_the_default_and_opens_on_first_use(
    settings_factory, embedder, tmp_path: Path, asgi_client, signup
) -> None:
    folder = tmp_path / "qdrant"
    settings = settings_factory(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/app.db", qdrant_path=str(folder)
    )
    assert settings.vector_store == "qdrant"
    app = create_app(settings, embedder=embedder)
    async with asgi_client(app):
        assert isinstance(app.state.vector_store, QdrantStore)
        assert not folder.exists()
        await app.state.vector_store.search(uuid.uuid4(), [0.0] * 384, limit=1)
        assert (folder / ".lock").exists()


@pytest.mark.pgvector
async def test_pgvector_from_settings(
    settings_factory, embedder, embedded_postgres, tmp_path: Path, asgi_client
) -> None:
    url = embedded_postgres.url(await embedded_postgres.new_database())
    settings = settings_factory(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/app.db",
        vector_store="pgvector",
        pgvector_url=url,
        pgvector_table="chunks_from_settings",
    )
    app = create_app(settings, embedder=embedder)
    async with asgi_client(app):
        store = app.state.vector_store
        assert isinstance(store, PgVectorStore)
        assert await store.search(uuid.uuid4(), [1.0] * 384, limit=3) == []


@pytest.mark.pgvector
async def test_pgvector_without_the_extension_stops_the_app_at_start(
    settings_factory, embedder, embedded_postgres, tmp_path: Path, asgi_client
) -> None:
    database = await embedded_postgres.new_database()
    role = f"r_{uuid.uuid4().hex[:8]}"
    await embedded_postgres.execute(f"CREATE ROLE {role} LOGIN")
    settings = settings_factory(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/app.db",
        vector_store="pgvector",
        pgvector_url=embedded_postgres.url(database, role),
    )
    with pytest.raises(VectorStoreError, match="CREATE EXTENSION vector failed") as raised:
        async with asgi_client(create_app(settings, embedder=embedder)):
            pass
    assert "VECTOR_STORE=qdrant" in str(raised.value)


async def test_pgvector_on_sqlite_stops_the_app_at_start(
    settings_factory, embedder, tmp_path: Path, asgi_client
) -> None:
    settings = settings_factory(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/app.db", vector_store="pgvector"
    )
    with pytest.raises(VectorStoreError, match="needs PostgreSQL"):
        async with asgi_client(create_app(settings, embedder=embedder)):
            pass
