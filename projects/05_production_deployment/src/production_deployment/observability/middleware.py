"""Per-request metrics and the access log, as pure ASGI middleware (no per-request task).

For each request: the in-flight gauge while it runs, the SSE gauge while a stream is open,
then one count and one latency observation labelled by the *route template*
(``/api/v1/conversations/{conversation_id}``, never the raw path, so ids cannot explode
the label set), and one access-log line with the status, latency, route and user.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from production_deployment.core.metrics import Metrics

access_log = logging.getLogger("production_deployment.access")

TRACEPARENT = re.compile(rb"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
UNMATCHED = "unmatched"  # 404s: one label value, whatever path was asked for
QUIET_ROUTES = frozenset({"/health/live", "/health/ready", "/health/startup", "/metrics"})


def route_of(scope: Scope) -> str:
    """The matched route's full template. FastAPI 0.16x keeps included routers nested:
    ``scope["route"]`` is the leaf route (its path without the routers' prefixes), and the
    full template is on the effective route context it records in the scope."""
    context: Any = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path_format", None)
    if not isinstance(path, str):
        path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


def trace_id_of(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"traceparent":
            match = TRACEPARENT.match(value.strip())
            return match.group(1).decode() if match else None
    return None


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering
        streaming = False

        async def watch(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"content-type" and value.startswith(b"text/event-stream"):
                        streaming = True
                        metrics.sse_in_flight.inc()
            await send(message)

        metrics.http_in_flight.inc()
        try:
            await self.app(scope, receive, watch)
        finally:
            metrics.http_in_flight.dec()
            if streaming:
                metrics.sse_in_flight.dec()
            elapsed = time.perf_counter() - started
            method, route = scope["method"], route_of(scope)
            metrics.child(metrics.http_requests, method, route, str(status)).inc()
            metrics.child(metrics.http_duration, method, route).observe(elapsed)
            quiet = route in QUIET_ROUTES and status < 500
            if not quiet and access_log.isEnabledFor(logging.INFO):
                state = scope.get("state") or {}
                client = scope.get("client")
                access_log.info(
                    "%s %s %d",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "latency_ms": round(elapsed * 1000, 2),
                        "user_id": state.get("user_id"),
                        "client": client[0] if client else None,
                        "trace_id": trace_id_of(scope),
                        "streamed": streaming,
                    },
                )
