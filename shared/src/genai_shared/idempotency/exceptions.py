from __future__ import annotations

from genai_shared.web.errors import Conflict, UnprocessableEntity


class IdempotencyKeyReused(UnprocessableEntity):
    message = "This Idempotency-Key was already used with a different request"


class IdempotencyKeyInvalid(UnprocessableEntity):
    message = "Idempotency-Key must be 1-255 visible ASCII characters"


class IdempotentRequestInProgress(Conflict):
    message = "A request with this Idempotency-Key is still being processed; retry later"
