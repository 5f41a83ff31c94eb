"""The pytest plugin of the workspace (registered through the ``pytest11`` entry point).

Fixtures every project's tests use:

- ``backend``: ``"sqlite"``, then ``"postgres"`` (integration): each API test runs on both.
- ``sqlite_url``: a fresh SQLite file per test.
- ``postgres_url``: a throw-away PostgreSQL database for the test session (integration).
- ``redis_client`` / ``fake_redis``: a real Redis (integration) or fakeredis. The real one
  is owned by one test run at a time (a file lock per Redis database): a second run on the
  same machine waits instead of emptying the first run's database under it.
- ``asgi_client``: an ``httpx.AsyncClient`` talking to an app in-process, lifespan included.
- ``expect_error``: asserts a response is the standard error envelope.
- ``root_log_level_restored`` (autouse): the root logger's level comes back after each test.
- ``make_user``, ``register_owner``, ``owner``: the users and conversation owners of the
  open users API of projects 01 and 02 (``contracts.users``). They ask for the project's
  ``client``; a project whose owners sign in (03) overrides them in its conftest.
- ``fake_upstream`` and its helpers (``fake_upstream_fixtures``).
- ``minilm``, ``chunker``, ``make_pdf``, ``make_store`` and ``store_kind`` (``rag_fixtures``).
- ``embedded_postgres`` and ``vector_database``: PostgreSQL 18 with pgvector (``embedded_pg``).

Integration tests carry ``@pytest.mark.integration``. They run when ``GENAI_INTEGRATION=1``
(``.ci/run`` and ``make test-integration`` set it); otherwise they are skipped with a
message that says so. With ``GENAI_INTEGRATION=1`` an unreachable PostgreSQL or Redis is an
error, never a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies import models as fastapi_dependency_models

from genai_shared.testing.assertions import assert_error

# Fixture modules loaded with this plugin, so no conftest imports a fixture by name.
pytest_plugins = [
    "genai_shared.testing.fake_upstream_fixtures",
    "genai_shared.testing.contracts.users",
    "genai_shared.testing.rag_fixtures",
    "genai_shared.testing.embedded_pg",
    "genai_shared.testing.ingest_fixtures",
    "genai_shared.testing.agent_fixtures",
]

INTEGRATION_ENV = "GENAI_INTEGRATION"
POSTGRES_ENV = "GENAI_TEST_POSTGRES_URL"
REDIS_ENV = "GENAI_TEST_REDIS_URL"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
SKIP_MESSAGE = (
    "integration test: set GENAI_INTEGRATION=1 to run it against the real PostgreSQL "
    "and Redis (make test-integration, or .ci/run)"
)


def integration_enabled() -> bool:
    """On with GENAI_INTEGRATION=1, and always under CI=true: CI never skips them."""
    flags = (os.environ.get(INTEGRATION_ENV, ""), os.environ.get("CI", ""))
    return any(flag.lower() in {"1", "true", "yes"} for flag in flags)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs the real PostgreSQL and Redis (GENAI_INTEGRATION=1)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if integration_enabled():
        return
    skip = pytest.mark.skip(reason=SKIP_MESSAGE)
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say how many integration tests really ran against PostgreSQL and Redis."""
    counts = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        reports = terminalreporter.stats.get(outcome, [])
        counts[outcome] = sum(
            1
            for r in reports
            if getattr(r, "when", "call") in ("call", "setup")
            and "integration" in getattr(r, "keywords", {})
            and (outcome != "passed" or r.when == "call")
        )
    if not any(counts.values()):
        return
    terminalreporter.write_sep("-", "integration tests (PostgreSQL + Redis)")
    terminalreporter.write_line(
        f"{counts['passed']} passed, {counts['failed'] + counts['error']} failed, "
        f"{counts['skipped']} skipped"
    )


# FastAPI classifies every endpoint and dependency (coroutine? generator?) once and keeps the
# answer in module-level ``lru_cache``s of 4,096 entries each, holding the callable itself.
# An app's own closures (the offline docs routes, dependencies made in ``create_app``) hold
# the app, so without this every app a test builds, with its engine, settings and providers,
# stays alive to the end of the run: gigabytes, and a long final garbage collection at exit.
_FASTAPI_CALLABLE_CACHES = [
    cache
    for name in (
        "_is_gen_callable_cached",
        "_is_async_gen_callable_cached",
        "_is_coroutine_callable_cached",
    )
    if (cache := getattr(fastapi_dependency_models, name, None)) is not None
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Once a test's fixtures are torn down, let FastAPI forget its apps' callables."""
    try:
        return (yield)
    finally:
        for cache in _FASTAPI_CALLABLE_CACHES:
            cache.cache_clear()


@pytest.fixture(autouse=True)
def root_log_level_restored() -> Iterator[None]:
    """Put the root logger's level back after each test. An app's lifespan sets it from
    ``LOG_LEVEL`` for the whole process; left at DEBUG, every later record is emitted, down
    to asyncio's "Using selector" when a loop is made at exit. A plugin fixture is set up
    before any conftest's, so this runs after their own restores (and after caplog's)."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def pytest_report_header(config: pytest.Config) -> str:
    state = "ON (PostgreSQL + Redis)" if integration_enabled() else "off (GENAI_INTEGRATION=1)"
    return f"genai integration tests: {state}"


# --- databases -------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database (and cache) a project's app runs on; its ``settings`` fixture reads it.

    SQLite with the in-process cache always; PostgreSQL with the real Redis as an
    integration test. A module that only needs one overrides ``backend``.
    """
    return str(request.param)


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/test.db"


def _admin_url() -> str:
    return os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_ADMIN_URL)


def _admin_execute(statement: str) -> None:
    """Run one statement on the admin database, from sync code even inside an event loop."""
    import asyncpg

    async def execute() -> None:
        dsn = _admin_url().replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, execute()).result()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """Create a uniquely named database for this test session and drop it afterwards."""
    if not integration_enabled():
        pytest.skip(SKIP_MESSAGE)
    name = f"genai_test_{uuid.uuid4().hex[:12]}"
    try:
        _admin_execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {_admin_url()} is not reachable: {exc!r}", pytrace=False)
    base, _, _ = _admin_url().rpartition("/")
    yield f"{base}/{name}"
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session's throw-away PostgreSQL database. Tests create and drop their tables."""
    return postgres_database


# --- redis ---------------------------------------------------------------------------------


@pytest.fixture
async def fake_redis() -> AsyncIterator[Any]:
    import fakeredis

    client = fakeredis.FakeAsyncRedis()
    yield client
    await client.aclose()


REDIS_LOCK_WAIT_SECONDS = 20 * 60


@pytest.fixture(scope="session")
def _redis_database_lock(pytestconfig: pytest.Config) -> Iterator[str]:
    """Own the test Redis database for this whole session.

    The suite empties its Redis database before and after tests, so two test runs on one
    machine sharing it (two checkouts, or a run next to ``make test``) would break each
    other's tests. The second run waits here for the first to finish, says so, and fails
    with the way out (``GENAI_TEST_REDIS_URL``) if the wait is too long.
    """
    url = os.environ.get(REDIS_ENV, DEFAULT_REDIS_URL)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        yield url
        return
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), f"genai-test-redis-{digest}.lock")
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Past pytest's output capture: whoever runs the suite sees why it pauses.
            capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
            message = f"another test run is using the Redis database {url}; waiting for it"
            with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                print(f"\n{message}", file=sys.stderr, flush=True)
            deadline = time.monotonic() + REDIS_LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        pytest.fail(
                            f"another test run kept the Redis database {url} for "
                            f"{REDIS_LOCK_WAIT_SECONDS // 60} minutes; give this run its own "
                            f"with {REDIS_ENV}=redis://127.0.0.1:6379/<another number>",
                            pytrace=False,
                        )
                    time.sleep(1)
        try:
            yield url
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    if not integration_enabled():
        pytest.skip(SKIP_MESSAGE)
    url: str = request.getfixturevalue("_redis_database_lock")
    return url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    """A real Redis client on a database the suite owns; emptied before and after each test."""
    from redis.asyncio import Redis

    # Generous: a hang guard on a busy CI box, not a latency expectation.
    client = Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=10)
    try:
        await client.flushdb()
    except Exception as exc:
        await client.aclose()
        pytest.fail(f"Redis at {redis_url} is not reachable: {exc!r}", pytrace=False)
    yield client
    await client.flushdb()
    await client.aclose()


# --- apps ----------------------------------------------------------------------------------


@asynccontextmanager
async def serve_in_process(
    app: FastAPI, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give a client that calls it in-process (no socket)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@pytest.fixture
def expect_error() -> Callable[[httpx.Response, int, str], dict[str, Any]]:
    """``expect_error(response, 404, "ConversationNotFound")``: the standard error envelope."""
    return assert_error


@pytest.fixture
def asgi_client() -> Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with asgi_client(app) as client:`` for tests that build their own app."""
    return serve_in_process
