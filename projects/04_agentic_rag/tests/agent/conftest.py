"""Agent fixtures: the app with the agent's routes and tools, a scriptable mock model, and
documents written through the retrieval service (the way ingestion writes them).

``mock``, ``extra_tools``, ``agent_overrides``, ``analytics_path``, ``ask`` and
``make_collection`` come from ``genai_shared.testing.agent_fixtures``: this module builds
the project's app around them. The agent's routers are included here with the guards
``main.py`` applies to the same route groups.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI

from agentic_rag.agent.dependencies import agent_resources
from agentic_rag.agent.registry import Tool
from agentic_rag.agent.router import admin_router, router, turn_router
from agentic_rag.auth.dependencies import admin, authorized
from agentic_rag.core.config import Settings
from agentic_rag.main import API_PREFIX, create_app
from agentic_rag.rag import service as rag_service
from agentic_rag.rag.models import Document
from agentic_rag.rag.resources import RagResources
from agentic_rag.ratelimit.dependencies import RateLimit
from genai_shared.llm.providers.mock_provider import MockProvider
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.rag import chunking
from genai_shared.rag.embeddings import Embedder, MiniLMEmbedder
from genai_shared.rag.minilm import process_minilm

Json = dict[str, Any]


def with_agent(
    app: FastAPI, settings: Settings, *, extra_tools: list[Tool[Any]] | None = None
) -> FastAPI:
    """Add the agent to an app from ``create_app``: its resources inside the app's
    lifespan, its routers with the guards of their route groups."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            rag = RagResources(embedder=app.state.embedder, vector_store=app.state.vector_store)
            async with agent_resources(
                app, settings, app.state.db, rag=rag, extra_tools=extra_tools or ()
            ):
                yield state

    app.router.lifespan_context = lifespan
    signed = Depends(authorized)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(turn_router, dependencies=[signed, Depends(RateLimit("chat"))])
    api.include_router(router, dependencies=[signed, Depends(RateLimit("default"))])
    api.include_router(admin_router, dependencies=[signed, Depends(admin)])
    app.include_router(api)
    return app


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real MiniLM, one per process (its weights load on first use)."""
    return MiniLMEmbedder(model=process_minilm())


@pytest.fixture
def settings_overrides(tmp_path: Path, analytics_path: Path, agent_overrides: Json) -> Json:
    return {
        "qdrant_path": str(tmp_path / "qdrant"),
        "analytics_sqlite_path": str(analytics_path),
        **agent_overrides,
    }


@pytest.fixture
def llm_registry(mock: MockProvider) -> ProviderRegistry:
    return ProviderRegistry({"mock": mock})


@pytest.fixture
def app(
    settings: Settings,
    llm_registry: ProviderRegistry,
    embedder: Embedder,
    extra_tools: list[Tool[Any]],
) -> FastAPI:
    return with_agent(
        create_app(settings, registry=llm_registry, embedder=embedder),
        settings,
        extra_tools=extra_tools,
    )


# --- conversations, collections, documents ---------------------------------------------------

AddDocument = Callable[..., Awaitable[Document]]


@pytest.fixture
def add_document(app: FastAPI, embedder: Embedder) -> AddDocument:
    """``await add_document(owner_id, collection_id, ["chunk text", ...], title=...)``: a
    ready document, its chunks in the database, the keyword index and the vector store,
    written with ``rag.service.store_document_chunks`` as ingestion writes them."""

    async def add(
        owner_id: str, collection_id: str, texts: list[str], *, title: str = "Notes"
    ) -> Document:
        vectors = await embedder.embed(texts)
        async with app.state.db.transaction() as session:
            document = Document(
                owner_id=uuid.UUID(owner_id),
                collection_id=uuid.UUID(collection_id),
                title=title,
                source=f"{title.lower().replace(' ', '-')}.md",
                content_type="text/markdown",
                content_hash=uuid.uuid4().hex * 2,
                status="ready",
                progress_done=len(texts),
                progress_total=len(texts),
            )
            session.add(document)
            await session.flush()
            chunks, offset = [], 0
            for ordinal, text in enumerate(texts):
                chunks.append(
                    chunking.Chunk(
                        document_id=str(document.id),
                        ordinal=ordinal,
                        heading_path=(title,),
                        page=ordinal + 1,
                        last_page=ordinal + 1,
                        char_start=offset,
                        char_end=offset + len(text),
                        text=text,
                        token_count=len(text.split()),
                    )
                )
                offset += len(text) + 2
            await rag_service.store_document_chunks(
                session=session,
                store=app.state.vector_store,
                document=document,
                chunks=chunks,
                vectors=vectors,
            )
        return document

    return add
