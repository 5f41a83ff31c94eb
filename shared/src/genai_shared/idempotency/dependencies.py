from __future__ import annotations

from typing import Annotated

from fastapi import Header

from genai_shared.idempotency.service import HEADER

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="Send the same key when retrying: the first result is returned again",
    ),
]
