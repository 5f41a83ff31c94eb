"""Two gunicorn workers: /metrics adds both up, and a rolling restart (HUP) loses nothing.

Two workers need stores every process can share, so the vector store here is pgvector,
on the plugin's embedded PostgreSQL 18 (the app database stays SQLite).
"""

from __future__ import annotations

import asyncio
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

TOKEN = "scrape-token-0123456789abcdef"
ROUTE = "/api/v1/conversations"

pytestmark = pytest.mark.pgvector


@pytest.fixture
def two_workers(serve, embedded_postgres, tmp_path: Path):
    database = asyncio.run(embedded_postgres.new_database())
    return serve(
        WEB_CONCURRENCY="2",
        VECTOR_STORE="pgvector",
        PGVECTOR_URL=embedded_postgres.url(database),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        METRICS_TOKEN=TOKEN,
        DRAIN_TIMEOUT_SECONDS="5",
    )


def counted(metrics_text: str, route: str) -> float:
    pattern = re.compile(
        r'^http_requests_total\{(?=[^}]*method="GET")(?=[^}]*route="'
        + re.escape(route)
        + r'")(?=[^}]*status="200")[^}]*\} ([0-9.e+]+)$',
        re.M,
    )
    return sum(float(value) for value in pattern.findall(metrics_text))


def test_a_counter_summed_over_two_workers_equals_the_requests_sent(two_workers, sign_up):
    sent = 60
    with httpx.Client(base_url=two_workers.url, timeout=10) as client:
        sign_up(client)
        headers = dict(client.headers)
    # A new connection per request, so the kernel spreads them over both workers.
    for _ in range(sent):
        response = httpx.get(f"{two_workers.url}{ROUTE}", headers=headers, timeout=10)
        assert response.status_code == 200, response.text
    time.sleep(0.5)  # the last access-log lines
    pids = {
        record["pid"]
        for record in two_workers.records()
        if record.get("logger") == "production_deployment.access" and record.get("route") == ROUTE
    }
    assert len(pids) == 2, pids  # both workers answered some
    scrape = httpx.get(
        f"{two_workers.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert scrape.status_code == 200
    assert counted(scrape.text, ROUTE) == sent


def test_a_rolling_restart_under_load_loses_no_request(two_workers, sign_up):
    with httpx.Client(base_url=two_workers.url, timeout=10) as client:
        sign_up(client)
        headers = dict(client.headers)
    old_workers = two_workers.worker_pids()
    assert len(old_workers) == 2
    stop = threading.Event()
    results: list[int | str] = []
    retried: list[str] = []

    def get(client: httpx.Client) -> int:
        """A GET, retried once if the server closed an idle keep-alive connection before
        any byte of a response: the one retry HTTP allows for idempotent requests (RFC 9110
        9.2.2), which browsers and urllib3 make. A stopping worker closes its idle
        connections; a request already on the wire of one of them meets that close: as
        "disconnected without sending a response", or, when the request's bytes were still
        unread in the closed socket, as a reset (the kernel answers such a close with RST).
        NGINX's ``proxy_next_upstream`` retries both for a GET."""
        try:
            return client.get(ROUTE).status_code
        except (httpx.RemoteProtocolError, httpx.ReadError) as error:
            retried.append(f"{type(error).__name__}: {error}")
            return client.get(ROUTE).status_code

    def load() -> None:
        with httpx.Client(base_url=two_workers.url, headers=headers, timeout=15) as client:
            while not stop.is_set():
                try:
                    results.append(get(client))
                except httpx.HTTPError as error:
                    results.append(type(error).__name__)

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(load)
        time.sleep(1.0)
        two_workers.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        # Until every old worker is gone and two new ones serve.
        while True:
            current = two_workers.worker_pids()
            if len(current) == 2 and not current & old_workers:
                break
            assert time.monotonic() < deadline, (old_workers, current)
            time.sleep(0.2)
        time.sleep(1.0)
        stop.set()
    failures = [r for r in results if r != 200]
    assert len(results) > 50, len(results)
    assert failures == [], f"{len(failures)} of {len(results)} failed: {failures[:5]}"
    # Only ever a connection closed before the response, never a response cut short.
    closed = ("without sending a response", "Connection reset by peer")
    assert all(any(c in reason for c in closed) for reason in retried), retried
