"""The agent's resources (the tool registry and what its tools hold open), built in the
lifespan by ``agent_resources`` and read by routes through ``ToolsDep``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from genai_shared.db.session import Database
from genai_shared.tools.analytics import create_sqlite_database, install_postgres
from genai_shared.tools.sql_guard import AnalyticsDatabase, PostgresAnalytics, SQLiteAnalytics
from genai_shared.tools.weather import WeatherClient
from production_deployment.agent.registry import Tool, ToolRegistry
from production_deployment.core.config import Settings
from production_deployment.rag.resources import RagResources
from production_deployment.tools.definitions import (
    DocumentSearch,
    calculator_tool,
    search_documents_tool,
    sql_query_tool,
    weather_tool,
)
from production_deployment.tools.search import RagDocumentSearch

logger = logging.getLogger(__name__)


async def analytics_database(settings: Settings, db: Database) -> AnalyticsDatabase:
    """The data set ``sql_query`` reads, installed if needed: the ``analytics`` schema of
    the app's PostgreSQL database (read through a role that can only SELECT from it), or
    a SQLite file of its own, opened read-only. Never the app's own tables."""
    if db.engine.dialect.name == "postgresql":
        await install_postgres(
            db.engine, schema=settings.analytics_schema, reader_role=settings.analytics_reader_role
        )
        return PostgresAnalytics(
            engine=db.engine,
            schema=settings.analytics_schema,
            reader_role=settings.analytics_reader_role,
            max_rows=settings.analytics_max_rows,
            timeout_seconds=settings.analytics_timeout_seconds,
        )
    path = Path(settings.analytics_sqlite_path)
    if not await asyncio.to_thread(path.exists):
        await asyncio.to_thread(create_sqlite_database, path)
    return SQLiteAnalytics(
        path=path,
        max_rows=settings.analytics_max_rows,
        timeout_seconds=settings.analytics_timeout_seconds,
    )


@asynccontextmanager
async def agent_resources(
    app: FastAPI,
    settings: Settings,
    db: Database,
    *,
    rag: RagResources | None = None,
    search: DocumentSearch | None = None,
    extra_tools: Sequence[Tool[Any]] = (),
) -> AsyncIterator[ToolRegistry]:
    """Build the tools from settings, publish the registry as ``app.state.agent_tools``,
    and close what they opened on the way out.

    ``search_documents`` searches with ``rag``'s embedder and vector store (or with
    ``search``, which tests pass); ``get_weather`` exists when ``WEATHER_API_BASE_URL`` is
    set; ``sql_query`` unless its data set cannot be installed (logged); ``calculator``
    always; and ``extra_tools`` (tests add tools of their own).
    """
    if search is None and rag is not None:
        search = RagDocumentSearch(
            db=db,
            store=rag.vector_store,
            embedder=rag.embedder,
            candidates=settings.search_candidates,
            rrf_k=settings.rrf_k,
        )
    async with AsyncExitStack() as stack:
        tools: list[Tool[Any]] = [calculator_tool()]
        if search is not None:
            tools.append(search_documents_tool(search))
        try:
            tools.append(sql_query_tool(await analytics_database(settings, db)))
        except Exception as exc:
            logger.error("sql_query is disabled: its data set could not be installed (%s)", exc)
        if settings.weather_api_base_url:
            client = WeatherClient(
                base_url=settings.weather_api_base_url,
                api_key=(
                    settings.weather_api_key.get_secret_value()
                    if settings.weather_api_key
                    else None
                ),
                timeout_seconds=settings.weather_timeout_seconds,
            )
            stack.push_async_callback(client.aclose)
            tools.append(weather_tool(client, timeout_seconds=settings.weather_timeout_seconds))
        registry = ToolRegistry(
            [*tools, *extra_tools],
            roles=settings.agent_tool_roles,
            max_result_chars=settings.agent_tool_result_max_chars,
        )
        app.state.agent_tools = registry
        yield registry


async def get_tools(request: Request) -> ToolRegistry:
    tools: ToolRegistry = request.app.state.agent_tools
    return tools


ToolsDep = Annotated[ToolRegistry, Depends(get_tools)]
