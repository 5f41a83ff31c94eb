"""Project 05 fixtures. Every API test runs twice: on SQLite with the in-process cache and
rate limiter, and (integration) on the real PostgreSQL with the real Redis.

``client`` is signed in as a default user (``user``); ``make_user`` signs up and logs in
more, each with its own ``headers``; ``anon`` is a client with no credentials.
``expect_error`` comes from the genai_shared plugin.

For the contracts of ``genai_shared.testing.contracts``, a conversation's owner is the
signed-in user: ``owner`` is ``user``, ``register_owner(client)`` signs another one up.
``backend`` comes from the plugin. ``default_gateway``, ``upstream_gateway`` and
``fallback_gateway`` serve the app on a socket, once per module, each with an API key.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from genai_shared.db.session import Database
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.testing.contracts import support
from genai_shared.testing.contracts.gateway import Gateway
from genai_shared.testing.fake_upstream import RunningFakeUpstream
from genai_shared.testing.live_server import live_server
from production_deployment.core.config import Settings
from production_deployment.core.database import Base
from production_deployment.core.money import to_micro
from production_deployment.main import create_app
from production_deployment.observability.logs import restore_logging
from production_deployment.users.models import User

ApiCall = Callable[..., Awaitable[httpx.Response]]
PASSWORD = "correct horse battery staple"
SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnop"

# Cheap Argon2 and limits no test reaches unless it sets its own.
TEST_SETTINGS: dict[str, Any] = {
    "environment": "test",
    "secret_key": SECRET_KEY,
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 64,
    "rate_limit_chat": 10_000,
    "rate_limit_default": 10_000,
    "rate_limit_auth": 10_000,
    # Tests that change a key or a user in the database expect the next request to see it;
    # the cache (at most 1 s) has tests of its own (tests/auth/test_key_cache.py).
    "api_key_cache_seconds": 0,
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only: checks made before the database is reached (input validation): "
        "the PostgreSQL run would repeat them at no gain",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the PostgreSQL variants of ``sqlite_only`` tests (keeps the run under ~90 s)."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        postgres = callspec is not None and callspec.params.get("backend") == "postgres"
        (drop if postgres and item.get_closest_marker("sqlite_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """Each app configures the process's logging (JSON, redacted): put it back after."""
    yield
    restore_logging()


def make_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **{**TEST_SETTINGS, **overrides})


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
def hot_path_overrides(fake_upstream: RunningFakeUpstream) -> dict[str, Any]:
    """The gateway's hot path: metering in Redis, the priced models on the fake upstream,
    ``mock/echo-1`` when a call names no model. A module on it sets ``backend`` to
    ``"postgres"`` (Redis comes with it) and builds ``settings_overrides`` from this."""
    return {
        **fake_upstream.provider_settings().model_dump(),
        "metering_backend": "redis",
        "llm_default_model": "mock/echo-1",
    }


@pytest.fixture
async def settings(
    backend: str, request: pytest.FixtureRequest, settings_overrides: dict[str, Any]
) -> Settings:
    return make_settings(
        **{**await support.backend_settings(backend, request), **settings_overrides}
    )


@pytest.fixture
def llm_registry() -> ProviderRegistry | None:
    """Override in a test module (or parametrize) to script the providers."""
    return None


@pytest.fixture
def app(settings: Settings, llm_registry: ProviderRegistry | None) -> FastAPI:
    return create_app(settings, registry=llm_registry)


@dataclass
class Account:
    id: str
    email: str
    password: str
    tokens: dict[str, Any]
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


async def sign_up(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, display_name: str = "Ada"
) -> Account:
    response = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "display_name": display_name, "password": password},
    )
    assert response.status_code == 201, response.text
    tokens = await log_in(client, email, password)
    return Account(
        id=response.json()["id"],
        email=email,
        password=password,
        tokens=tokens,
        body=response.json(),
    )


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/login", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def set_user(app: FastAPI, user_id: str, **values: Any) -> None:
    """Change a user behind the API's back (role, budget), as an operator would."""
    if "budget_usd" in values:
        values["monthly_budget_micro_usd"] = to_micro(Decimal(values.pop("budget_usd")))
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(User).where(User.id == uuid.UUID(user_id)).values(**values))
        await session.commit()


@pytest.fixture
def app_factory() -> support.AppFactory:
    """``app_factory(**settings)``: an app of a test's own, on the test defaults."""
    return lambda **values: create_app(make_settings(**values))


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials; the tables exist for the test's duration."""
    async with support.serve_with_tables(app, Base.metadata) as client:
        yield client


MakeUser = Callable[..., Awaitable[Account]]


@pytest.fixture
def make_user(app: FastAPI, anon: httpx.AsyncClient) -> MakeUser:
    counter = iter(range(1_000_000))

    async def make(email: str | None = None, *, role: str | None = None, **values: Any) -> Account:
        account = await sign_up(anon, email or f"user{next(counter)}@example.com")
        if role is not None or values:
            await set_user(app, account.id, **({"role": role} if role else {}), **values)
        return account

    return make


@pytest.fixture
async def user(make_user: MakeUser) -> Account:
    return await make_user("owner@example.com")


@pytest.fixture
def owner(user: Account) -> support.Owner:
    return support.Owner.signed_in(user.id, user.headers)


@pytest.fixture
def register_owner() -> support.RegisterOwner:
    """Sign a new user up through any client, also one on an app a test builds itself."""

    async def register(client: httpx.AsyncClient) -> support.Owner:
        account = await sign_up(client, f"owner-{uuid.uuid4().hex[:12]}@example.com")
        return support.Owner.signed_in(account.id, account.headers)

    return register


@pytest.fixture
async def client(
    app: FastAPI, anon: httpx.AsyncClient, user: Account
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client signed in as ``user`` (the app runs in ``anon``'s lifespan)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=str(anon.base_url), headers=user.headers
    ) as client:
        yield client


@pytest.fixture
def make_conversation(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def make(
        title: str = "A chat", *, headers: dict[str, str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/conversations", json={"title": title, **extra}, headers=headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    return make


@pytest.fixture
def make_api_key(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def make(
        *, headers: dict[str, str] | None = None, scopes: list[str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": "test key", **extra}
        if scopes is not None:
            body["scopes"] = scopes
        response = await client.post("/api/v1/api-keys", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    return make


@pytest.fixture(scope="session")
def settings_factory() -> Callable[..., Settings]:
    """``settings_factory(database_url=..., ...)``: test settings with overrides."""
    return make_settings


@pytest.fixture
def signup() -> Callable[..., Awaitable[Account]]:
    """``await signup(client, email)``: sign up and log in through any client."""
    return sign_up


# --- the OpenAI-compatible gateway on a socket (contracts.gateway) ---------------------------


@contextmanager
def serve_gateway(settings: Settings) -> Iterator[Gateway]:
    """Serve the app on a socket with its tables, a signed-up user and an API key of theirs."""

    async def create_tables() -> None:
        db = Database(settings.database_url)
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await db.dispose()

    asyncio.run(create_tables())
    with live_server(create_app(settings)) as url:
        with httpx.Client(base_url=url, timeout=10) as http:
            email = "gw@example.com"
            body = {"email": email, "display_name": "G", "password": PASSWORD}
            assert http.post("/api/v1/auth/signup", json=body).status_code == 201
            login = http.post("/api/v1/auth/login", data={"username": email, "password": PASSWORD})
            bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
            key = http.post("/api/v1/api-keys", json={"name": "sdk"}, headers=bearer)
            assert key.status_code == 201, key.text
        yield Gateway(url, api_key=key.json()["key"], database_url=settings.database_url)


def _gateway_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('gateway')}/gateway.db"


@pytest.fixture(scope="module")
def default_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The app on embedded defaults: no provider configured, the mock answers."""
    with serve_gateway(make_settings(database_url=_gateway_db(tmp_path_factory))) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def upstream_gateway(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: RunningFakeUpstream
) -> Iterator[Gateway]:
    """The app with OpenAI, Anthropic and OpenRouter all pointed at the fake upstream."""
    providers = fake_upstream.provider_settings().model_dump()
    settings = make_settings(database_url=_gateway_db(tmp_path_factory), **providers)
    with serve_gateway(settings) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def fallback_gateway(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: RunningFakeUpstream
) -> Iterator[Gateway]:
    """Like ``upstream_gateway``, with ``LLM_FALLBACKS=mock/echo-1`` behind every model."""
    providers = fake_upstream.provider_settings(llm_fallbacks=["mock/echo-1"]).model_dump()
    settings = make_settings(database_url=_gateway_db(tmp_path_factory), **providers)
    with serve_gateway(settings) as gateway:
        yield gateway


@pytest.fixture
async def chat_path(make_conversation: Callable[..., Awaitable[dict[str, Any]]]) -> str:
    """The chat path of a new conversation of the signed-in ``user``."""
    return f"/api/v1/conversations/{(await make_conversation())['id']}/chat"
