"""The gateway's fast lane: ``POST /v1/chat/completions`` served without FastAPI's router.

On the hot path (``METERING_BACKEND=redis``) the metering costs two Redis round trips,
and what is left of a call's time in this worker is mostly the framework: FastAPI
matching the route through its nested routers, solving eight dependencies, validating
the body, then validating the returned model again before serialising it. This lane
answers the common call (an API key, a JSON body, no ``Idempotency-Key``) itself: the
same credential check, the same service (``gateway.service.chat_completion``), the same
error envelope. It sits inside every middleware (request id, metrics and access log,
error envelope, body limit, ``RateLimit-*`` headers), so what they add is unchanged.

Every request it does not take whole goes to the app, as if the lane were not there:
other paths and methods, access tokens, two credentials, no ``Content-Length`` (the body
limit must see it), an ``Idempotency-Key`` (its guard, rare here, keeps the route), and
a body the schema refuses (FastAPI's 422 describes it). A body already read is handed on
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from starlette.datastructures import State
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genai_shared.gateway.schemas import ChatCompletion, ChatCompletionRequest
from genai_shared.web.errors import AppError, app_error_response
from genai_shared.web.request_id import current_request_id
from production_deployment.auth.dependencies import (
    MAX_CREDENTIAL_CHARS,
    Principal,
    check_scope,
    from_api_key,
)
from production_deployment.gateway import service
from production_deployment.idempotency.service import HEADER as IDEMPOTENCY_HEADER

PATH = "/v1/chat/completions"
_IDEMPOTENCY = IDEMPOTENCY_HEADER.lower().encode()


@dataclass(frozen=True)
class LaneRoute:
    """What ``scope["route"]`` holds for a call served here: the route template is read
    from it for the metrics labels and the access log, as for a routed request."""

    path: str = PATH
    name: str = "chat_completions"


ROUTE = LaneRoute()


@dataclass(frozen=True)
class Taken:
    """What the headers say of a request the lane may take."""

    credential: str


def bearer_token(value: bytes) -> str | None:
    """``Authorization: Bearer <token>``'s token, read as FastAPI's OAuth2 scheme reads it."""
    scheme, _, token = value.decode("latin-1").partition(" ")
    return (token or None) if scheme.lower() == "bearer" else None


def take(scope: Scope, state: State) -> Taken | None:
    """The request's API key when the lane can serve it, from its headers alone."""
    if state.metering is None:
        return None
    authorization: bytes | None = None
    x_api_key: bytes | None = None
    sized = json = False
    for name, value in scope["headers"]:
        # The first of a repeated header counts, as for Starlette's ``headers.get``.
        if name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"x-api-key" and x_api_key is None:
            x_api_key = value
        elif name == b"content-length":
            sized = True
        elif name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            json = media == b"application/json" or media.endswith(b"+json")
        elif name == _IDEMPOTENCY:
            return None
    bearer = bearer_token(authorization) if authorization is not None else None
    api_key = x_api_key.decode("latin-1") or None if x_api_key is not None else None
    credential = bearer or api_key
    if not (sized and json and credential) or (bearer and api_key):
        return None
    if len(credential) > MAX_CREDENTIAL_CHARS or state.security.api_key_prefix(credential) is None:
        return None
    return Taken(credential)


async def read_body(receive: Receive) -> bytes | None:
    """The whole body, or None if the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app after the lane read the body: the body once, then the rest."""
    pending: Message | None = {"type": "http.request", "body": body, "more_body": False}

    async def replay() -> Message:
        nonlocal pending
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return replay


class GatewayFastLane:
    """ASGI middleware, innermost: the lane for the gateway's calls, the app for the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.served = 0  # calls answered here, not by the router (for tests and debugging)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        state: State = scope["app"].state
        taken = take(scope, state)
        if taken is None:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        scope["route"] = ROUTE
        try:
            principal = await authorized(scope, state, taken.credential)
            try:
                request = ChatCompletionRequest.model_validate_json(body)
            except ValidationError:
                await self.app(scope, replaying(body, receive), send)
                return
            result = await service.chat_completion(
                db=state.db,
                metering=state.metering,
                gateway=state.gateway,
                metrics=state.metrics,
                settings=state.settings,
                principal=principal,
                body=request,
                idempotency_key=None,
                request_id=current_request_id(),
                scope=scope,
            )
            response = render(result)
        except AppError as error:
            response = app_error_response(error)
        self.served += 1
        await response(scope, receive, send)


async def authorized(scope: Scope, state: State, credential: str) -> Principal:
    """The gateway's guards, as the router applies them: the key's caller
    (``from_api_key``), with the scope the method needs (``check_scope``)."""
    principal = await from_api_key(
        state.db, state.security, credential, getattr(state, "api_key_cache", None)
    )
    return check_scope(scope, principal)


def render(result: ChatCompletion | Response) -> Response:
    """The route's ``response_model=ChatCompletion``, without validating it a second time."""
    if isinstance(result, Response):
        return result
    return JSONResponse(result.model_dump(mode="json"))
