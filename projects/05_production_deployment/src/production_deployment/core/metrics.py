"""Prometheus metrics: one set per app, added up over every gunicorn worker.

Served at ``GET /metrics``: open when ``METRICS_TOKEN`` is unset (keep the port off the
public network), otherwise only to ``Authorization: Bearer <METRICS_TOKEN>`` (Prometheus'
``authorization`` scrape setting; NGINX refuses /metrics from outside anyway).

With several workers, each is its own process with its own counters. Set
``PROMETHEUS_MULTIPROC_DIR`` (a writable, empty folder) and prometheus-client writes every
worker's values to files there; /metrics, whichever worker answers, adds them up. The
variable must be in the environment before prometheus-client is imported (the image and
compose set it); gunicorn's hooks empty the folder at start and drop a dead worker's files.
Adding them up reads every worker's files: the handler does it in a worker thread, so a
scrape never blocks the event loop that serves the requests.

The names are a contract: the alert rules, recording rules and the Grafana dashboard in
``deploy/`` use exactly these (``tests/deploy/test_monitoring.py`` checks it).
"""

from __future__ import annotations

import hmac
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.metrics import MetricWrapperBase
from starlette.concurrency import run_in_threadpool

from production_deployment.auth.exceptions import NotAuthenticated
from production_deployment.core.config import SettingsDep

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
MAX_CHILDREN = 4096  # labelled children remembered per app (Metrics.child)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}
        registry = self.registry
        # HTTP
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time to the end of the response (whole streams included), by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_in_flight = Gauge(
            "http_requests_in_flight",
            "Requests being answered now",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.sse_in_flight = Gauge(
            "sse_streams_in_flight",
            "Server-sent event streams open now",
            registry=registry,
            multiprocess_mode="livesum",
        )
        # Providers
        self.provider_calls = Counter(
            "llm_provider_calls",
            "Provider calls written to the usage ledger, by how they ended",
            ["provider", "model", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "llm_tokens",
            "Tokens billed by providers (kind: input or output)",
            ["provider", "model", "kind"],
            registry=registry,
        )
        self.cost = Counter(
            "llm_cost_usd",
            "What provider calls cost, in US dollars, as charged to the ledger",
            ["provider", "model"],
            registry=registry,
        )
        self.first_token = Histogram(
            "llm_time_to_first_token_seconds",
            "From the call to the provider's first streamed event",
            ["provider"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        # Caches, queue, limits, budgets
        self.cache_requests = Counter(
            "cache_requests",
            "Cache lookups (result: hit or miss)",
            ["cache", "result"],
            registry=registry,
        )
        self.ingest_queue_depth = Gauge(
            "ingest_queue_depth",
            "Documents queued or being processed (read from the database at each scrape)",
            registry=registry,
            multiprocess_mode="max",
        )
        self.rate_limiter_errors = Counter(
            "rate_limiter_errors",
            "Rate-limit checks that failed because the limiter store was unreachable",
            ["route_class", "outcome"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "rate_limited_requests",
            "Requests refused with 429 by the rate limiter",
            ["route_class"],
            registry=registry,
        )
        self.budget_refusals = Counter(
            "budget_refusals",
            "Chat calls refused with 402 because the user's budget could not cover them",
            registry=registry,
        )
        self.reservations_released = Counter(
            "budget_reservations_released",
            "Budget reservations released by the sweeper because their call never settled",
            registry=registry,
        )

    def child(self, metric: MetricWrapperBase, *values: str) -> Any:
        """``metric.labels(*values)``, remembered: the request path asks for the same few
        children on every call, and ``labels`` checks and locks each time."""
        key = (metric, values)
        found = self._children.get(key)
        if found is None:
            if len(self._children) >= MAX_CHILDREN:
                self._children.clear()  # a bound, not an LRU: label sets are small anyway
            found = self._children[key] = metric.labels(*values)
        return found

    def exposition(self) -> bytes:
        """The text /metrics serves: this process's values, or every worker's added up."""
        folder = multiprocess_dir()
        if folder is None:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(combined, path=folder)
        return generate_latest(combined)


router = APIRouter(tags=["health"])


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


@router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request,
    settings: SettingsDep,
    collected: MetricsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    token = settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}".encode()
        if not hmac.compare_digest((authorization or "").encode(), expected):
            raise NotAuthenticated
    refresh = getattr(request.app.state, "refresh_gauges", None)
    if refresh is not None:
        await refresh()
    return Response(await run_in_threadpool(collected.exposition), media_type=CONTENT_TYPE_LATEST)
