"""What readiness checks beyond the database and Redis, and the startup probe.

- ``vector_store``: a real search round trip (an owner that has nothing), so a Qdrant or
  pgvector that is down, or hangs, fails readiness within the probe's timeout.
- ``providers``: the default model resolves to a configured provider, so a deployment
  with a missing key or a mistyped model is never sent traffic.

``/health/startup`` answers 200 once the app has started and its readiness checks have
passed once; an orchestrator holds its liveness probe until then, so a slow first start
(migrations, loading the embedding model) is not mistaken for a hung process.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from genai_shared.db.session import Database
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.rag.stores import VectorStore
from genai_shared.web import health
from production_deployment.rag.models import Document, DocumentStatus

NOBODY = uuid.UUID(int=0)

router = APIRouter(prefix="/health", tags=["health"])


def register_checks(app: FastAPI, *, default_model: str) -> None:
    """Add the vector store and provider checks (call in the lifespan, once they exist)."""
    store: VectorStore = app.state.vector_store
    registry: ProviderRegistry = app.state.llm

    async def vector_store() -> None:
        await store.search(NOBODY, [0.0] * store.dimensions, limit=1)

    async def providers() -> None:
        registry.resolve(default_model)

    app.state.health_checks["vector_store"] = vector_store
    app.state.health_checks["providers"] = providers


async def queue_depth(db: Database) -> int:
    """Documents waiting for, or in, ingestion."""
    async with db.transaction() as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(Document)
            .where(Document.status.in_([DocumentStatus.QUEUED, DocumentStatus.PROCESSING]))
        )
    return int(waiting or 0)


@router.get(
    "/startup",
    response_model=health.HealthReport,
    responses={503: {"model": health.HealthReport, "description": "Still starting"}},
)
async def startup(request: Request) -> Any:
    state = request.app.state
    if not getattr(state, "started", False):
        return JSONResponse(health.HealthReport(status="unavailable").model_dump(), 503)
    if not getattr(state, "startup_checked", False):
        response = await health.ready(request)
        if isinstance(response, JSONResponse):
            return response
        state.startup_checked = True
    return health.HealthReport(status="ok")
