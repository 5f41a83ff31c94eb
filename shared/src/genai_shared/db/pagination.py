"""Opaque cursor (keyset) pagination.

A cursor encodes the sort key of the last row of a page, e.g. ``(created_at, id)``; the
next page is ``WHERE (created_at, id) > (:c, :i)``. Unlike ``OFFSET``, a row inserted
meanwhile never shifts or repeats a page, and page N costs the same as page 1.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from genai_shared.web.errors import UnprocessableEntity

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class InvalidCursor(UnprocessableEntity):
    message = "The pagination cursor is not valid"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page"
    )


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="Opaque cursor")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidCursor(details=[{"loc": ["query", "cursor"], "msg": str(exc)}]) from exc


def split_page(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    """Rows were fetched with ``limit + 1``: return the page and the cursor to the next one."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    last = page[-1]
    return page, encode_cursor(last.created_at, last.id)


async def keyset_page(
    session: AsyncSession,
    query: Select[T],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    cursor: str | None,
    limit: int,
    newest_first: bool,
) -> tuple[list[T], str | None]:
    """Run ``query`` for one page ordered by ``(created_at, id)``, after ``cursor``.

    Returns the page's rows and the cursor to the next page (None on the last one). The
    composite index ``(owner, created_at, id)`` serves it as a single range scan.
    """
    if cursor is not None:
        after_at, after_id = decode_cursor(cursor)
        if newest_first:
            query = query.where(
                or_(created_at < after_at, and_(created_at == after_at, row_id < after_id))
            )
        else:
            query = query.where(
                or_(created_at > after_at, and_(created_at == after_at, row_id > after_id))
            )
    order = (created_at.desc(), row_id.desc()) if newest_first else (created_at, row_id)
    rows = list(await session.scalars(query.order_by(*order).limit(limit + 1)))
    return split_page(rows, limit)
