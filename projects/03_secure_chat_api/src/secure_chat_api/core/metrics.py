"""Prometheus counters, one registry per app (two apps in one test process never clash).

Served at ``GET /metrics``. Each worker process counts for itself; scrape every worker
(or run prometheus-client's multiprocess mode) to add them up.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rate_limiter_errors = Counter(
            "rate_limiter_errors",
            "Rate-limit checks that failed because the limiter store was unreachable",
            ["route_class", "outcome"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "rate_limited_requests",
            "Requests refused with 429 by the rate limiter",
            ["route_class"],
            registry=self.registry,
        )
        self.budget_refusals = Counter(
            "budget_refusals",
            "Chat calls refused with 402 because the user's budget could not cover them",
            registry=self.registry,
        )
        self.provider_calls = Counter(
            "provider_calls",
            "Provider calls written to the usage ledger",
            ["provider", "status"],
            registry=self.registry,
        )


router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
