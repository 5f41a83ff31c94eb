"""The limit holds across processes: uvicorn --workers 2 on the real PostgreSQL and Redis.

Fire 3N concurrent chat calls at a limit of N per minute: exactly N succeed, whichever
worker served them, and the rest are 429.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from production_deployment.core.database import Base
from production_deployment.main import create_app  # noqa: F401 - registers every table on Base

LIMIT = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=base_url, timeout=1) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "uvicorn exited early"
            try:
                if (await client.get("/health/live")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the server did not start")


@pytest.fixture
async def two_workers(postgres_url, redis_client, redis_url, settings_factory):
    engine = create_async_engine(postgres_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    settings = settings_factory(database_url=postgres_url, redis_url=redis_url)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "ENVIRONMENT": "test",
        "RATE_LIMIT_CHAT": str(LIMIT),
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "64",
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_SIZE": "5",
        # Generous for a loaded CI box: a timeout fails chat closed (503), which would
        # make the count of successes depend on the machine instead of the limit.
        "REDIS_TIMEOUT_SECONDS": "2",
    }
    process = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once
        [
            sys.executable,
            "-m",
            "uvicorn",
            "production_deployment.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        start_new_session=True,  # its own process group: stopped together below
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        await _wait_until_up(base_url, process)
        yield base_url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
        await engine.dispose()


@pytest.mark.integration
async def test_exactly_n_of_3n_concurrent_calls_pass(two_workers):
    limits = httpx.Limits(max_connections=3 * LIMIT)
    async with httpx.AsyncClient(base_url=two_workers, timeout=20, limits=limits) as client:
        email, password = "workers@example.com", "a long enough password"
        signup = {"email": email, "display_name": "W", "password": password}
        assert (await client.post("/api/v1/auth/signup", json=signup)).status_code == 201
        login = await client.post(
            "/api/v1/auth/login", data={"username": email, "password": password}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        conversation = await client.post("/api/v1/conversations", json={"title": "load"})
        path = f"/api/v1/conversations/{conversation.json()['id']}/chat"

        responses = await asyncio.gather(
            *(client.post(path, json={"content": f"hi {i}"}) for i in range(3 * LIMIT))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * LIMIT + [429] * (2 * LIMIT), statuses
