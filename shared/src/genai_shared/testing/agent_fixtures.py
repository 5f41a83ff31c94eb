"""Fixtures of the agent's route tests in every agentic project (04, 05).

A project's ``tests/agent/conftest.py`` builds its app with the agent's routes and tools
and reads these: ``mock`` (the app's mock provider: set ``mock.script`` to script the
model's replies), ``extra_tools`` (tools of a test's own, added to the registry),
``agent_overrides`` (settings a module or a test changes), ``analytics_path`` (the SQLite
analytics data set, written once per session), and the request helpers ``ask`` and
``make_collection``, which call the project's ``client``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from genai_shared.agent.registry import Tool
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.tools.analytics import create_sqlite_database

Json = dict[str, Any]
Ask = Callable[..., Awaitable[httpx.Response]]
MakeCollection = Callable[..., Awaitable[Json]]


@pytest.fixture(scope="session")
def analytics_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite copy of the analytics data set, written once per session."""
    return create_sqlite_database(tmp_path_factory.mktemp("analytics") / "analytics.db")


@pytest.fixture
def agent_overrides() -> Json:
    """Override in a test module (or a test) to change the agent's settings."""
    return {}


@pytest.fixture
def mock() -> MockProvider:
    return MockProvider(MockScript())


@pytest.fixture
def extra_tools() -> list[Tool[Any]]:
    return []


@pytest.fixture
def ask(client: httpx.AsyncClient) -> Ask:
    """``await ask(conversation_id, "question", headers=..., **body)``: one agent turn."""

    async def post(
        conversation_id: str, content: str, *, headers: dict[str, str] | None = None, **body: Any
    ) -> httpx.Response:
        return await client.post(
            f"/api/v1/conversations/{conversation_id}/agent",
            json={"content": content, **body},
            headers=headers,
        )

    return post


@pytest.fixture
def make_collection(client: httpx.AsyncClient) -> MakeCollection:
    async def make(name: str = "Notes", *, headers: dict[str, str] | None = None) -> Json:
        response = await client.post("/api/v1/collections", json={"name": name}, headers=headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    return make
