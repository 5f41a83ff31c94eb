"""Refuse request bodies larger than a limit with 413, before they are read into memory.

A pure ASGI middleware: a declared ``Content-Length`` over the limit is refused at once;
otherwise (chunked bodies, or a client that lies) the bytes are counted as the app reads
them, and the read that crosses the limit raises ``HTTPException(413)``, which FastAPI
passes on to the error handlers. Nothing past the limit is ever buffered.

A few routes take larger bodies (document uploads): ``allowances`` maps a path pattern to
its own limit; every other route keeps the small default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genai_shared.web.errors import error_response

MESSAGE = "The request body is too large"


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail=MESSAGE)


class BodySizeLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        allowances: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.allowances = list(allowances)

    def limit_for(self, path: str) -> int:
        return next(
            (limit for pattern, limit in self.allowances if pattern.match(path)), self.max_bytes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["path"])
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            try:
                too_large = int(declared) > max_bytes
            except ValueError:
                too_large = False  # the server rejects a malformed length itself
            if too_large:
                await self._refuse(scope, receive, send)
                return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Read outside FastAPI's request parsing (a form, a raw stream): answer here.
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "ContentTooLarge", MESSAGE)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
