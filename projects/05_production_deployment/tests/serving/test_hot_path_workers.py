"""The hot path across two gunicorn workers, on the real Redis and PostgreSQL (18, the
plugin's embedded one, so each test has a database of its own):

- a revoked API key is refused by both workers within a second;
- concurrent calls on both workers never overspend a budget;
- a worker killed (SIGKILL, the whole server with it) loses no acknowledged call: its
  ledger rows wait in Redis and the next start writes them to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.pgvector]


@pytest.fixture
def hot_env(embedded_postgres, redis_client, redis_url, tmp_path: Path, fake_upstream):
    """Settings for a two-worker server metering in Redis (its database flushed by the
    ``redis_client`` fixture), with the OpenAI-format fake upstream as a priced provider."""
    database = asyncio.run(embedded_postgres.new_database())
    return {
        "DATABASE_URL": embedded_postgres.url(database),
        "REDIS_URL": redis_url,
        "WEB_CONCURRENCY": "2",
        "VECTOR_STORE": "pgvector",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "METERING_BACKEND": "redis",
        "API_KEY_CACHE_SECONDS": "1",
        "OPENAI_API_KEY": "sk-test-hot-path-0123456789",
        "OPENAI_BASE_URL": fake_upstream.openai_base_url,
        "LEDGER_CLAIM_IDLE_SECONDS": "1",
        "DRAIN_TIMEOUT_SECONDS": "2",
    }


def api_key(client: httpx.Client) -> dict:
    created = client.post("/api/v1/api-keys", json={"name": "hot"})
    assert created.status_code == 201, created.text
    return created.json()


def call(url: str, key: str, model: str = "mock/echo-1") -> httpx.Response:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "hello there"}],
        "max_tokens": 100,  # a worst case of about 65 micro-dollars on gpt-4o-mini
    }
    return httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"X-API-Key": key}, timeout=30
    )


def stream_state(env: dict) -> dict:
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"])
    stream = "production-deployment:meter:ledger"
    return {
        "length": client.xlen(stream),
        "groups": client.xinfo_groups(stream),
        "consumers": client.xinfo_consumers(stream, "ledger-writers"),
    }


def ledger_count(dsn: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM usage_record"))
        finally:
            await conn.close()

    return asyncio.run(count())


def test_a_revoked_key_is_refused_by_every_worker_within_a_second(serve, sign_up, hot_env):
    served = serve(**hot_env)
    with httpx.Client(base_url=served.url, timeout=10) as client:
        sign_up(client)
        created = api_key(client)
        # Warm both workers' caches: new connections spread over the two.
        for _ in range(20):
            assert call(served.url, created["key"]).status_code == 200
        revoked_at = time.monotonic()
        assert client.delete(f"/api/v1/api-keys/{created['id']}").status_code == 204
    refused_by: set[int] = set()
    last_success = None
    while len(refused_by) < 2 and time.monotonic() - revoked_at < 5:
        response = call(served.url, created["key"])
        if response.status_code == 200:
            last_success = time.monotonic() - revoked_at
        else:
            assert response.status_code == 401, response.text
        time.sleep(0.02)
        refused_by = {
            record["pid"]
            for record in served.records()
            if record.get("route") == "/v1/chat/completions" and record.get("status") == 401
        }
    assert len(refused_by) == 2, refused_by
    assert last_success is None or last_success <= 1.2, last_success


def test_two_workers_never_overspend_a_budget(serve, sign_up, hot_env, embedded_postgres):
    served = serve(**hot_env)
    with httpx.Client(base_url=served.url, timeout=10) as client:
        sign_up(client)
        key = api_key(client)["key"]
        me = client.get("/api/v1/users/me").json()
    # A budget a few calls' worst case wide (set as an operator would, in the database).
    budget = 300  # micro-dollars
    dsn = hot_env["DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")

    async def set_budget() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                'UPDATE "user" SET monthly_budget_micro_usd = $1 WHERE id = $2',
                budget,
                uuid.UUID(me["id"]),
            )
        finally:
            await conn.close()

    asyncio.run(set_budget())
    time.sleep(1.1)  # the cached key (and its user's budget) expires everywhere
    with ThreadPoolExecutor(16) as pool:
        statuses = list(
            pool.map(lambda _: call(served.url, key, "openai/gpt-4o-mini").status_code, range(64))
        )
    assert set(statuses) <= {200, 402}, statuses
    assert statuses.count(402) > 0
    assert statuses.count(200) > 0
    with httpx.Client(base_url=served.url, timeout=10, headers={"X-API-Key": key}) as client:
        deadline = time.monotonic() + 15
        while True:
            budget_now = client.get("/api/v1/usage").json()["budget"]
            if budget_now["reserved_usd"] == "0.000000" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    spent = round(float(budget_now["spent_usd"]) * 1_000_000)
    assert budget_now["reserved_usd"] == "0.000000"
    assert 0 < spent <= budget


def test_a_killed_server_loses_no_acknowledged_call(serve, sign_up, hot_env):
    # The writer pauses 30 s between batches: the rows are still in Redis at the kill.
    served = serve(**hot_env, LEDGER_FLUSH_INTERVAL_SECONDS="30")
    with httpx.Client(base_url=served.url, timeout=10) as client:
        sign_up(client)
        key = api_key(client)["key"]
    time.sleep(0.5)  # past the writers' first (empty) read
    answered = sum(call(served.url, key).status_code == 200 for _ in range(12))
    assert answered == 12
    dsn = hot_env["DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")
    # Acknowledged, mostly not in PostgreSQL yet (a writer blocked on the stream may have
    # taken the first call or two before its 30 s pause).
    assert ledger_count(dsn) <= 2
    served.kill_all()  # master and workers, no chance to flush

    restarted = serve(**hot_env)  # same Redis, same database
    deadline = time.monotonic() + 20
    while ledger_count(dsn) < 12:
        assert time.monotonic() < deadline, (ledger_count(dsn), stream_state(hot_env))
        time.sleep(0.2)
    time.sleep(1.0)
    assert ledger_count(dsn) == 12  # each row once
    assert restarted.process.poll() is None
