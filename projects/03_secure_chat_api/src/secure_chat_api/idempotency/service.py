"""``Idempotency-Key`` for this app's ``IdempotencyKey`` table: the behaviour lives in
``genai_shared.idempotency.service``; this module binds it to the model, under the names
the chat, gateway and usage modules import."""

from __future__ import annotations

from genai_shared.idempotency.service import (
    HEADER,
    REPLAYED,
    Claim,
    Guard,
    IdempotencyKeys,
    StoredResponse,
    request_hash,
)
from secure_chat_api.idempotency.models import IdempotencyKey

keys = IdempotencyKeys(IdempotencyKey)
begin = keys.begin
keep_response = keys.keep_response
forget = keys.forget
forget_abandoned = keys.forget_abandoned
purge_expired = keys.purge_expired
guard = keys.guard

__all__ = [
    "HEADER",
    "REPLAYED",
    "Claim",
    "Guard",
    "StoredResponse",
    "begin",
    "forget",
    "forget_abandoned",
    "guard",
    "keep_response",
    "keys",
    "purge_expired",
    "request_hash",
]
