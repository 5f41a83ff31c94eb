"""One error model for every project.

Every error leaves the API in the same envelope, whatever raised it::

    {"error": {"type": "ConversationNotFound", "message": "...", "details": [...],
               "request_id": "..."}}

Domain code raises an ``AppError`` subclass that carries its status; the handlers here
turn those, FastAPI's validation errors, Starlette's HTTP errors and anything unexpected
into that body. An unexpected exception is logged with its traceback and answered with a
generic 500: no traceback, no exception text ever reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genai_shared.web.request_id import current_request_id

logger = logging.getLogger(__name__)


class AppError(Exception):
    """Base of every error the API reports on purpose. Subclasses set status and message."""

    status_code: int = 500
    message: str = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = list(details or [])
        self.headers = dict(headers or {})
        super().__init__(self.message)

    @property
    def error_type(self) -> str:
        return type(self).__name__


class BadRequest(AppError):
    status_code = 400
    message = "Bad request"


class Unauthorized(AppError):
    status_code = 401
    message = "Not authenticated"


class Forbidden(AppError):
    status_code = 403
    message = "Not allowed"


class NotFound(AppError):
    status_code = 404
    message = "Not found"


class Conflict(AppError):
    status_code = 409
    message = "Conflict with the current state of the resource"


class UnprocessableEntity(AppError):
    status_code = 422
    message = "The request could not be processed"


class TooManyRequests(AppError):
    status_code = 429
    message = "Too many requests"


class ServiceUnavailable(AppError):
    status_code = 503
    message = "Service temporarily unavailable"


class ErrorInfo(BaseModel):
    type: str
    message: str
    details: list[dict[str, Any]] = []
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error response (declared in OpenAPI through ``error_responses``)."""

    error: ErrorInfo


def error_body(
    error_type: str, message: str, details: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    return {
        "error": {
            "type": error_type,
            "message": message,
            "details": jsonable_encoder(list(details)),
            "request_id": current_request_id(),
        }
    }


def error_response(
    status_code: int,
    error_type: str,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(error_type, message, details), status_code=status_code, headers=headers
    )


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the errors a route may raise, all with the envelope."""
    responses: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        entry = responses.setdefault(
            err.status_code, {"model": ErrorResponse, "description": err.message}
        )
        if err.message not in entry["description"]:
            entry["description"] += f" / {err.message}"
    return responses


def _status_type(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase.title().replace(" ", "").replace("-", "")
    except ValueError:
        return "HTTPError"


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out on purpose: it may be a password or a key.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def app_error_response(exc: AppError) -> JSONResponse:
    """The envelope of an ``AppError``, for handlers and for ASGI code outside the router."""
    if exc.status_code >= 500:
        logger.error("%s: %s", exc.error_type, exc.message)
    return error_response(exc.status_code, exc.error_type, exc.message, exc.details, exc.headers)


async def handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return app_error_response(exc)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        422, "ValidationError", "The request is not valid", _validation_details(exc)
    )


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else _status_type(exc.status_code)
    return error_response(
        exc.status_code, _status_type(exc.status_code), message, headers=exc.headers
    )


async def handle_integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A unique or foreign-key constraint that a concurrent request won the race for.
    logger.warning("integrity error: %s", type(exc).__name__)
    return error_response(409, "Conflict", Conflict.message)


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "InternalServerError", "Internal server error")


class UnhandledErrorMiddleware:
    """Turns an exception nothing else handled into the 500 envelope.

    Starlette sends handlers registered for ``Exception`` to its outermost middleware,
    outside the request-id middleware, where the request id is already gone. This one
    sits inside it, so the 500 body and the log line still carry the id. If the response
    had already started (a stream broke half-way), there is nothing left to send: the
    exception is logged and the connection closed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            logger.error(
                "unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc
            )
            if started:
                return
            response = error_response(500, "InternalServerError", "Internal server error")
            await response(scope, receive, send)


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(IntegrityError, handle_integrity_error)
    app.add_exception_handler(Exception, handle_unexpected)
