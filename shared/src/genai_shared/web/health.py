"""Liveness and readiness probes.

``/health/live`` says the process is up and serving; it checks nothing else, so an
orchestrator never restarts a healthy process because a database is slow.
``/health/ready`` runs every check registered in ``app.state.health_checks`` (a name ->
async callable that raises on failure) under a timeout and answers 503, naming the
failed dependency, when any fails, and at once, without running them, once the process
has been told to stop (``app.state.drain``: status ``draining``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

HealthCheck = Callable[[], Awaitable[object]]
CHECK_TIMEOUT_SECONDS = 2.0

router = APIRouter(prefix="/health", tags=["health"])


class CheckResult(BaseModel):
    status: Literal["ok", "error"]
    latency_ms: float
    error: str | None = None


class HealthReport(BaseModel):
    status: Literal["ok", "unavailable", "draining"]
    checks: dict[str, CheckResult] = {}


async def _run_check(check: HealthCheck) -> CheckResult:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return CheckResult(status="error", latency_ms=_ms(started), error="timed out")
    except Exception as exc:  # a failing dependency is the answer, not an error of ours
        return CheckResult(status="error", latency_ms=_ms(started), error=type(exc).__name__)
    return CheckResult(status="ok", latency_ms=_ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


@router.get("/live", response_model=HealthReport)
async def live() -> HealthReport:
    return HealthReport(status="ok")


@router.get(
    "/ready",
    response_model=HealthReport,
    responses={
        503: {
            "model": HealthReport,
            "description": "A dependency is down, or the process is stopping",
        }
    },
)
async def ready(request: Request) -> Any:
    drain = getattr(request.app.state, "drain", None)
    if drain is not None and drain.draining:
        return JSONResponse(HealthReport(status="draining").model_dump(mode="json"), 503)
    checks: dict[str, HealthCheck] = getattr(request.app.state, "health_checks", {})
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[n]) for n in names))
    report = HealthReport(
        status="ok" if all(r.status == "ok" for r in results) else "unavailable",
        checks=dict(zip(names, results, strict=True)),
    )
    if report.status != "ok":
        return JSONResponse(report.model_dump(mode="json"), status_code=503)
    return report
