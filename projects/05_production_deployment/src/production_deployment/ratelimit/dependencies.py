"""Rate limits as router-level dependencies, and the headers they add to every answer.

``RateLimit("chat")`` counts the caller's requests per route; ``client_rate_limit`` counts
an unauthenticated client's by IP address (signup, login, refresh). When the limiter's
store (Redis) cannot be reached within its timeout, chat fails *closed* (503: nobody
gets unmetered access to paid models) and everything else fails *open*; both count in
``rate_limiter_errors_total`` and log a warning.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from fastapi import Request
from redis.exceptions import RedisError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genai_shared.ratelimit.limiter import Decision, RateLimiter
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.core.config import Settings
from production_deployment.core.metrics import Metrics
from production_deployment.ratelimit.exceptions import RateLimiterUnavailable, RateLimitExceeded

logger = logging.getLogger(__name__)

RouteClass = Literal["chat", "default", "auth"]
SCOPE_KEY = "production_deployment.rate_limit"
LIMITER_ERRORS = (RedisError, OSError, TimeoutError)


def _route_id(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method}:{getattr(route, 'path', request.url.path)}"


def _limit_for(settings: Settings, route_class: RouteClass) -> int:
    return {
        "chat": settings.rate_limit_chat,
        "default": settings.rate_limit_default,
        "auth": settings.rate_limit_auth,
    }[route_class]


async def check(request: Request, *, subject: str, route_class: RouteClass) -> None:
    """Count this request for ``subject`` on this route; raise 429 (or 503) when refused."""
    settings: Settings = request.app.state.settings
    limiter: RateLimiter = request.app.state.rate_limiter
    metrics: Metrics = request.app.state.metrics
    try:
        # The client's socket timeouts bound each Redis call; this bounds the whole check.
        async with asyncio.timeout(settings.redis_timeout_seconds * 4):
            decision: Decision = await limiter.hit(
                f"{subject}:{_route_id(request)}",
                limit=_limit_for(settings, route_class),
                window_seconds=settings.rate_limit_window_seconds,
            )
    except LIMITER_ERRORS as error:
        fail_closed = route_class == "chat"
        outcome = "refused" if fail_closed else "allowed"
        metrics.rate_limiter_errors.labels(route_class=route_class, outcome=outcome).inc()
        logger.warning(
            "rate limiter unreachable (%s): %s request %s",
            type(error).__name__,
            route_class,
            outcome,
        )
        if fail_closed:
            raise RateLimiterUnavailable(headers={"Retry-After": "5"}) from None
        return
    if not decision.allowed:
        metrics.rate_limited.labels(route_class=route_class).inc()
        raise RateLimitExceeded(headers=decision.headers())
    request.scope[SCOPE_KEY] = decision


class RateLimit:
    """Per signed-in user and route.

    ``unless_metered_in_redis``: the route counts its own calls in the same Redis round
    trip as its budget reservation when ``METERING_BACKEND=redis`` (the gateway's hot
    path); this dependency then stands aside.
    """

    def __init__(
        self, route_class: Literal["chat", "default"], *, unless_metered_in_redis: bool = False
    ) -> None:
        self.route_class: RouteClass = route_class
        self.unless_metered_in_redis = unless_metered_in_redis

    async def __call__(self, request: Request, principal: PrincipalDep) -> None:
        if self.unless_metered_in_redis and request.app.state.metering is not None:
            return
        await check(request, subject=f"user:{principal.user_id}", route_class=self.route_class)


async def client_rate_limit(request: Request) -> None:
    """Per client address and route, for the calls made before there is a user."""
    host = request.client.host if request.client else "unknown"
    await check(request, subject=f"ip:{host}", route_class="auth")


class RateLimitHeadersMiddleware:
    """Adds ``RateLimit-*`` headers to responses whose request was counted (streams too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            decision = scope.get(SCOPE_KEY)
            if message["type"] == "http.response.start" and isinstance(decision, Decision):
                headers = MutableHeaders(scope=message)
                for name, value in decision.headers().items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
