"""Ingestion fixtures: an app with the documents API, over the plugin's counting MiniLM
(``counting_embedder``) and loopback web server (``doc_site``, ``ingest_fixtures``).

``ingest_api(**settings)`` opens an app of the test's own (on the test's ``backend``) with
a signed-in user; without Redis it ingests in-process, with Redis (the PostgreSQL run) a
taskiq receiver reads the real stream in this process, as a worker would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agentic_rag.core.config import Settings
from agentic_rag.core.database import Base
from agentic_rag.ingest.dependencies import fetch_policy
from agentic_rag.ingest.service import ingestion
from agentic_rag.main import create_app
from genai_shared.ingest.fetch import FetchPolicy
from genai_shared.ingest.service import IngestRuntime, build_fetch_policy
from genai_shared.ingest.worker import consume
from genai_shared.rag.chunking import Chunker
from genai_shared.testing.contracts import support
from genai_shared.testing.ingest_fixtures import CountingEmbedder, allow_loopback

PASSWORD = "correct horse battery staple"
DOCUMENTS_PATH = "/api/v1/documents/{document_id}"
SETTLED = frozenset({"ready", "failed"})
# Waits are bounded only so a broken ingestion fails the test instead of hanging it.
HANG_GUARD_SECONDS = 120


@pytest.fixture
def embedder(counting_embedder: CountingEmbedder) -> CountingEmbedder:
    """The app's embedder: the real MiniLM, counting what it embeds (the plugin's)."""
    return counting_embedder


# --- the app --------------------------------------------------------------------------------


@dataclass
class IngestApi:
    """An app with the documents API, a signed-in user and helpers to drive it."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    headers: dict[str, str]

    async def sign_up(self, email: str) -> dict[str, str]:
        body = {"email": email, "display_name": "Ada", "password": PASSWORD}
        response = await self.client.post("/api/v1/auth/signup", json=body)
        assert response.status_code == 201, response.text
        login = await self.client.post(
            "/api/v1/auth/login", data={"username": email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    async def collection(
        self, name: str = "docs", *, headers: Mapping[str, str] | None = None
    ) -> str:
        response = await self.client.post(
            "/api/v1/collections", json={"name": name}, headers=dict(headers or self.headers)
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def upload(
        self,
        collection_id: str,
        content: bytes,
        *,
        filename: str = "doc.md",
        media_type: str = "text/markdown",
        headers: Mapping[str, str] | None = None,
        **form: str,
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/collections/{collection_id}/documents",
            files={"file": (filename, content, media_type)},
            data=form,
            headers=dict(headers or self.headers),
        )

    async def import_url(
        self, collection_id: str, url: str, *, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/collections/{collection_id}/documents",
            json={"url": url},
            headers=dict(headers or self.headers),
        )

    async def document(
        self, document_id: str, *, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        response = await self.client.get(
            DOCUMENTS_PATH.format(document_id=document_id), headers=dict(headers or self.headers)
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def settled(
        self, document_id: str, *, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Poll until the document is ready or failed."""
        return await self.wait_until(
            document_id, lambda doc: doc["status"] in SETTLED, headers=headers
        )

    async def wait_until(
        self,
        document_id: str,
        condition: Callable[[dict[str, Any]], bool],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Poll the document until ``condition`` holds (``HANG_GUARD_SECONDS`` at most)."""
        document: dict[str, Any] = {}
        try:
            async with asyncio.timeout(HANG_GUARD_SECONDS):
                while True:
                    document = await self.document(document_id, headers=headers)
                    if condition(document):
                        return document
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pytest.fail(f"the document never got there; last seen: {document}")


def with_fetch_policy(app: FastAPI, policy: FetchPolicy | None) -> FastAPI:
    """The app, with URL imports held to ``policy`` when one is given."""
    if policy is not None:
        app.dependency_overrides[fetch_policy] = lambda: policy
    return app


@asynccontextmanager
async def in_process_worker(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """A taskiq receiver on the real Redis stream, in this process, with the app's model
    and store (embedded Qdrant is one process's): what ``agentic-rag-worker`` runs."""
    assert settings.redis_url is not None
    runtime = IngestRuntime(
        db=app.state.db,
        embedder=app.state.embedder,
        store=app.state.vector_store,
        chunker=Chunker.for_minilm(),
        settings=settings,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consume(ingestion, runtime, redis_url=settings.redis_url, stop=stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=30)


IngestApiFactory = Callable[..., contextlib.AbstractAsyncContextManager[IngestApi]]


@pytest.fixture
def ingest_api(
    backend: str,
    request: pytest.FixtureRequest,
    settings_factory: Callable[..., Settings],
    embedder: CountingEmbedder,
    tmp_path: Path,
) -> IngestApiFactory:
    """``async with ingest_api(loopback=..., **settings) as api:`` an app of the test's own;
    ``loopback=True`` lets URL imports reach the test server on 127.0.0.1; ``worker=False``
    leaves a Redis queue to workers the test starts itself."""

    @asynccontextmanager
    async def open_api(
        loopback: bool = False, worker: bool = True, **overrides: Any
    ) -> AsyncIterator[IngestApi]:
        values = {
            **await support.backend_settings(backend, request),
            "qdrant_path": str(tmp_path / "qdrant"),
            "ingest_queue_name": f"test-ingest-{tmp_path.name}",
            "ingest_sweep_interval_seconds": 0.5,
            **overrides,
        }
        settings = settings_factory(**values)
        policy = allow_loopback(build_fetch_policy(settings)) if loopback else None
        app = with_fetch_policy(create_app(settings, embedder=embedder), policy)
        async with support.serve_with_tables(app, Base.metadata) as client:
            consumer = (
                in_process_worker(app, settings)
                if settings.redis_url and worker
                else contextlib.nullcontext()
            )
            async with consumer:
                api = IngestApi(app=app, client=client, settings=settings, headers={})
                api.headers = await api.sign_up("owner@example.com")
                yield api

    return open_api
