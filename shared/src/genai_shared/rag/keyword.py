"""Keyword search over a project's ``chunk`` table: SQLite FTS5 with ``bm25()``, PostgreSQL
full text.

Both backends run the same kind of query: the words of the question (English stop words
left out), any of which may match, ranked by a term-weighting score, and always joined
to ``chunk`` with ``chunk.owner_id`` in the ``WHERE`` clause. The owner is a required
argument; there is no query without it.

- **PostgreSQL**: the chunk's stored ``search_vector`` (``to_tsvector('english', text)``,
  written with the row) and its GIN index, words stemmed by the ``english``
  configuration, ranked by ``ts_rank_cd`` (cover density: how close together the
  matching words are). Stored, not an expression index: ranking a match needs the
  tsvector, and an expression index would parse every matching chunk's text again.
- **SQLite**: an FTS5 table ``chunk_fts`` (Porter stemming) kept in sync with ``chunk``
  by triggers, so every path that deletes chunks (a document, a collection, a user, a
  cascade) updates it. It is derived data, like the vectors, so it is made here and not
  by a migration (its shadow tables would be extra tables to Alembic): by
  :func:`ensure_index` when the app starts, and with the ``chunk`` table by
  ``create_all``. ``bm25()``'s document frequencies are counted over every owner's
  chunks: another owner's text can nudge a score, never add a result.

The queries are written once here for whichever chunk model a project passes to
:class:`KeywordSearch` (a model with ``ChunkColumns``); the project makes one instance, at
import, which also hooks the FTS5 table to that model's ``create_all`` and ``drop_all``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    column,
    event,
    func,
    literal_column,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import table as lightweight_table
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from genai_shared.rag.models import ChunkColumns
from genai_shared.rag.stores.base import SearchFilters

FTS_TABLE = "chunk_fts"
MAX_TERMS = 32

# Left out of a SQLite query (PostgreSQL's ``english`` configuration has its own list):
# with "any word may match", these would match nearly every chunk.
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your
    yours yourself yourselves
    """.split()  # noqa: SIM905
)
_WORD = re.compile(r"\w+", re.UNICODE)

# Plain literals (no formatting): the table name is FTS_TABLE.
_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts "
    "USING fts5(text, chunk_id, tokenize = 'porter unicode61')",
    # chunk_id is an indexed column so that a delete finds its row through the index.
    """CREATE TRIGGER IF NOT EXISTS chunk_fts_after_insert AFTER INSERT ON chunk BEGIN
        INSERT INTO chunk_fts (text, chunk_id) VALUES (new.text, new.id);
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunk_fts_after_delete AFTER DELETE ON chunk BEGIN
        DELETE FROM chunk_fts WHERE chunk_fts MATCH 'chunk_id : "' || old.id || '"';
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunk_fts_after_update AFTER UPDATE OF id, text ON chunk
    BEGIN
        DELETE FROM chunk_fts WHERE chunk_fts MATCH 'chunk_id : "' || old.id || '"';
        INSERT INTO chunk_fts (text, chunk_id) VALUES (new.text, new.id);
    END""",
)
_fts = lightweight_table(FTS_TABLE, column("chunk_id"), column("rank"))


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """A chunk found by its words; ``score`` is higher for a better match."""

    id: uuid.UUID
    score: float


def terms(query: str) -> list[str]:
    """The words to look for: lower-cased, de-duplicated, stop words out (unless that
    leaves nothing), at most ``MAX_TERMS``."""
    words = list(dict.fromkeys(word.lower() for word in _WORD.findall(query)))
    content = [word for word in words if word not in STOP_WORDS]
    return (content or words)[:MAX_TERMS]


def fts5_query(words: list[str]) -> str:
    """An FTS5 MATCH expression: any of the words, in the ``text`` column only.

    Each word is a quoted string (``\\w+`` never holds a quote), so no input can inject
    FTS5 syntax (``NEAR``, column filters, ``*``).
    """
    return "{text} : (" + " OR ".join(f'"{word}"' for word in words) + ")"


def _sync_ensure(conn: Connection) -> None:
    if conn.dialect.name != "sqlite":
        return
    has_chunk = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunk'"
    ).first()
    if has_chunk is None:  # not migrated yet: create_all's event will make it
        return
    for statement in _FTS_DDL:
        conn.exec_driver_sql(statement)
    chunks = conn.exec_driver_sql("SELECT count(*) FROM chunk").scalar_one()
    indexed = conn.exec_driver_sql(f"SELECT count(*) FROM {FTS_TABLE}").scalar_one()  # noqa: S608
    if chunks != indexed:
        # New, or written while the triggers were missing (a batch migration copies the
        # table and drops its triggers): rebuild from the source of truth.
        conn.exec_driver_sql(f"DELETE FROM {FTS_TABLE}")  # noqa: S608
        conn.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE} (text, chunk_id) SELECT text, id FROM chunk"  # noqa: S608
        )


async def ensure_index(engine: AsyncEngine) -> None:
    """Make the SQLite keyword index where it is missing (nothing to do on PostgreSQL).

    Safe to call at every start, from every process that writes chunks.
    """
    async with engine.begin() as conn:
        await conn.run_sync(_sync_ensure)


def search_vector(text: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[Any]:
    """What ``chunk.search_vector`` holds on PostgreSQL: ``to_tsvector('english', text)``."""
    return func.to_tsvector(literal_column("'english'"), text)


ChunkT = TypeVar("ChunkT", bound=ChunkColumns)


def _after_create(target: Any, connection: Connection, **kw: Any) -> None:
    _sync_ensure(connection)


def _before_drop(target: Any, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")


class KeywordSearch(Generic[ChunkT]):
    """Keyword search over one project's chunk model.

    Making it hooks the SQLite FTS5 table to the model's table: ``create_all`` makes the
    index with it (through :func:`ensure_index`), ``drop_all`` drops it first.
    """

    def __init__(self, chunk_model: type[ChunkT]) -> None:
        self.chunk_model = chunk_model
        table = sa_inspect(chunk_model).local_table
        if not event.contains(table, "after_create", _after_create):
            event.listen(table, "after_create", _after_create)
            event.listen(table, "before_drop", _before_drop)

    def _filtered(
        self, query: Select[Any], owner_id: uuid.UUID, filters: SearchFilters | None
    ) -> Any:
        chunk = self.chunk_model
        query = query.where(chunk.owner_id == owner_id)
        if filters is not None and filters.collection_ids is not None:
            query = query.where(chunk.collection_id.in_(sorted(filters.collection_ids)))
        if filters is not None and filters.document_ids is not None:
            query = query.where(chunk.document_id.in_(sorted(filters.document_ids)))
        return query

    def _sqlite_query(
        self, words: list[str], owner_id: uuid.UUID, filters: SearchFilters | None
    ) -> Any:
        chunk = self.chunk_model
        # bm25() is lower for a better match; weight 0 for the chunk_id column.
        bm25 = func.bm25(literal_column(FTS_TABLE), 1.0, 0.0)
        query = (
            select(chunk.id, (-bm25).label("score"))
            .select_from(_fts)
            .join(chunk, chunk.id == _fts.c.chunk_id)
            .where(sql_text(f"{FTS_TABLE} MATCH :match").bindparams(match=fts5_query(words)))
        )
        return self._filtered(query, owner_id, filters).order_by(bm25)

    def _postgres_query(
        self, words: list[str], owner_id: uuid.UUID, filters: SearchFilters | None
    ) -> Any:
        chunk = self.chunk_model
        english: ColumnElement[Any] = literal_column("'english'")
        document = chunk.search_vector
        tsquery: ColumnElement[Any] = func.plainto_tsquery(english, words[0])
        for word in words[1:]:
            tsquery = tsquery.op("||")(func.plainto_tsquery(english, word))
        score = func.ts_rank_cd(document, tsquery)
        query = select(chunk.id, score.label("score")).where(document.op("@@")(tsquery))
        return self._filtered(query, owner_id, filters).order_by(score.desc(), chunk.id)

    async def search(
        self,
        *,
        session: AsyncSession,
        owner_id: uuid.UUID,
        query: str,
        limit: int,
        filters: SearchFilters | None = None,
    ) -> list[KeywordHit]:
        """The owner's chunks that contain any of the query's words, best first."""
        words = terms(query)
        if not words or (filters is not None and filters.matches_nothing):
            return []
        dialect = session.get_bind().dialect.name
        build = self._sqlite_query if dialect == "sqlite" else self._postgres_query
        rows = (await session.execute(build(words, owner_id, filters).limit(limit))).all()
        return [KeywordHit(id=row.id, score=float(row.score)) for row in rows]
