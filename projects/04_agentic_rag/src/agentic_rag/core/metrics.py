"""Prometheus counters, one registry per app (two apps in one test process never clash).

Served at ``GET /metrics``: open when ``METRICS_TOKEN`` is unset (keep the port off the
public network), otherwise only to ``Authorization: Bearer <METRICS_TOKEN>`` (Prometheus'
``authorization`` scrape setting). Each worker process counts for itself; scrape every
worker (or run prometheus-client's multiprocess mode) to add them up.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from agentic_rag.auth.exceptions import NotAuthenticated
from agentic_rag.core.config import SettingsDep


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
        self.reservations_released = Counter(
            "budget_reservations_released",
            "Budget reservations released by the sweeper because their call never settled",
            registry=self.registry,
        )


router = APIRouter(tags=["health"])


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


@router.get("/metrics", include_in_schema=False)
async def metrics(
    settings: SettingsDep,
    collected: MetricsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    token = settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}".encode()
        if not hmac.compare_digest((authorization or "").encode(), expected):
            raise NotAuthenticated
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)
