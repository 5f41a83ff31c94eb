"""The ``sql_query`` tool's two layers: a guard on the SQL text, and a read-only runner.

The model writes SQL; the guard (``check_query``) parses it with sqlglot and lets through
exactly one read-only query over the analytics tables, with a ``LIMIT`` no larger than
the row cap. What runs is the guard's re-rendering of the parsed tree, not the model's
text, so nothing the parser skipped (a second statement, a comment trick) can reach the
database.

The guard is not trusted alone. The runners assume it was bypassed and still cannot
write or run away:

- SQLite: the file is opened ``mode=ro`` with ``query_only``, no attached databases,
  a 1 MB cap on any string or blob, an authorizer that allows only reading the
  analytics tables, and a progress handler that interrupts a query past its deadline.
- PostgreSQL: each query runs in ``BEGIN READ ONLY`` as ``SET LOCAL ROLE`` to a role
  with ``SELECT`` on the analytics schema only, with ``SET LOCAL statement_timeout``;
  it is sent as a prepared statement (one statement, never several) and read through a
  cursor that stops at the row cap.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import math
import sqlite3
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import asyncpg
import sqlglot
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlglot import exp
from sqlglot.errors import SqlglotError

from genai_shared.tools.analytics import ANALYTICS_TABLES, quote_identifier

Dialect = Literal["sqlite", "postgres"]
JSONValue = None | bool | int | float | str | list[Any] | dict[str, Any]

MAX_SQL_LENGTH: Final = 10_000
DEFAULT_MAX_ROWS: Final = 100
DEFAULT_TIMEOUT_SECONDS: Final = 3.0
MAX_SIZE_ARGUMENT: Final = 10_000
SQLITE_MAX_VALUE_BYTES: Final = 1_000_000

DENIED_FUNCTIONS: Final = frozenset(
    {
        # PostgreSQL: settings, sequences (they write), server details, SQL run from strings
        "set_config",
        "current_setting",
        "nextval",
        "setval",
        "currval",
        "lastval",
        "version",
        "inet_server_addr",
        "inet_server_port",
        "inet_client_addr",
        "inet_client_port",
        # SQLite: native code, files, tokenizer pointers
        "load_extension",
        "fts3_tokenizer",
        "readfile",
        "writefile",
        "edit",
    }
)
# pg_sleep, pg_read_file, pg_ls_dir, pg_terminate_backend ...; large objects; other
# databases; transaction ids; SQLite's internals and pragma table functions.
DENIED_PREFIXES: Final = ("pg_", "lo_", "dblink", "txid_", "binary_upgrade", "sqlite_", "pragma_")
DENIED_INFIXES: Final = ("_to_xml",)  # query_to_xml('any SQL', ...) runs a string as SQL
SIZE_ARGUMENT: Final = {"repeat": 1, "lpad": 1, "rpad": 1, "zeroblob": 0, "randomblob": 0}
"""Functions whose size argument (at this position) must be a small literal number."""

_FORBIDDEN_NODES: Final = tuple(
    getattr(exp, name)
    for name in (
        "Insert",
        "Update",
        "Delete",
        "Merge",
        "Create",
        "Drop",
        "Alter",
        "TruncateTable",
        "Command",
        "Copy",
        "Set",
        "Pragma",
        "Attach",
        "Detach",
        "Transaction",
        "Commit",
        "Rollback",
        "Grant",
        "Revoke",
        "Into",
        "Lock",
        "LoadData",
        "Analyze",
        "Use",
        "Describe",
        "Show",
        "Kill",
        "Declare",
        "Execute",
        "Cache",
        "Uncache",
        "Refresh",
    )
    if hasattr(exp, name)
)


class SQLToolError(Exception):
    """A query the tool refused or could not run; ``reason`` is shown to the model."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SQLRefused(SQLToolError):
    """The guard refused the SQL text."""


class QueryTimedOut(SQLToolError):
    """The database stopped the query at its time limit."""


class QueryFailed(SQLToolError):
    """The database refused or failed the query (a read-only layer or an SQL error)."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Columns and JSON-safe rows; ``truncated`` when more rows existed than the cap."""

    columns: list[str]
    rows: list[list[JSONValue]]
    truncated: bool


# --- the guard ------------------------------------------------------------------------------


def check_query(
    sql: str,
    *,
    dialect: Dialect,
    allowed_tables: Collection[str],
    max_rows: int,
    schema: str | None = None,
) -> str:
    """Return ``sql`` as one normalised, capped SELECT, or raise ``SQLRefused``.

    ``schema`` is the one schema that table names may be qualified with (PostgreSQL's
    ``analytics``); without it only unqualified names are accepted.
    """
    if len(sql) > MAX_SQL_LENGTH:
        raise SQLRefused(f"the query is longer than {MAX_SQL_LENGTH} characters")
    try:
        return _checked_sql(
            sql, dialect=dialect, allowed_tables=allowed_tables, max_rows=max_rows, schema=schema
        )
    except (SqlglotError, RecursionError) as exc:
        raise SQLRefused(f"the query could not be parsed: {_first_line(exc)}") from exc


def _checked_sql(
    sql: str,
    *,
    dialect: Dialect,
    allowed_tables: Collection[str],
    max_rows: int,
    schema: str | None,
) -> str:
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    if len(statements) != 1:
        raise SQLRefused(f"exactly one statement is allowed, found {len(statements)}")
    query = statements[0]
    while isinstance(query, exp.Subquery) and not query.alias:
        query = query.this
    if not isinstance(query, exp.Select | exp.SetOperation):
        raise SQLRefused(f"only a SELECT query is allowed, not {_keyword(query, dialect)}")
    if any(isinstance(s, exp.Select) and not s.expressions for s in query.find_all(exp.Select)):
        raise SQLRefused("a SELECT without columns is not a query")
    for node in query.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise SQLRefused(f"{_keyword(node, dialect)} is not allowed in a read-only query")
    _check_tables(query, allowed=frozenset(t.lower() for t in allowed_tables), schema=schema)
    for function in query.find_all(exp.Func):
        _check_function(function, dialect=dialect)
    _cap_rows(query, max_rows)
    return query.sql(dialect=dialect, comments=False)


def _keyword(node: exp.Expr, dialect: Dialect) -> str:
    """The first word of a node as SQL (``DELETE``, ``COPY``), to name it in a refusal."""
    words = node.sql(dialect=dialect, comments=False).split(maxsplit=1)
    return words[0].upper() if words else node.key.upper()


def _check_tables(query: exp.Expression, *, allowed: frozenset[str], schema: str | None) -> None:
    cte_names = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    for name in cte_names:
        if _denied_name(name):
            raise SQLRefused(f"the name {name!r} is reserved for the database's own tables")
    for table in query.find_all(exp.Table):
        if isinstance(table.this, exp.Func):
            continue  # a table function (generate_series, json_each): checked as a function
        if not isinstance(table.this, exp.Identifier):
            raise SQLRefused("this kind of table reference is not allowed")
        name = table.name.lower()
        qualifier = ".".join(part for part in (table.catalog, table.db) if part).lower()
        if qualifier and (schema is None or qualifier != schema.lower()):
            raise SQLRefused(f"tables outside the analytics data cannot be read ({qualifier})")
        if name in allowed or (not qualifier and name in cte_names):
            continue
        listed = ", ".join(sorted(allowed))
        raise SQLRefused(f"unknown table {table.name!r}; the tables are: {listed}")


def _check_function(function: exp.Func, *, dialect: Dialect) -> None:
    names = _function_names(function, dialect=dialect)
    if isinstance(function.parent, exp.Dot):
        raise SQLRefused(f"schema-qualified function calls are not allowed ({max(names)})")
    for name in names:
        if name in DENIED_FUNCTIONS or _denied_name(name):
            raise SQLRefused(f"the function {name}() is not allowed")
        if name in SIZE_ARGUMENT:
            arguments = list(function.iter_expressions())
            position = SIZE_ARGUMENT[name]
            size = arguments[position] if position < len(arguments) else None
            if not (
                isinstance(size, exp.Literal)
                and size.is_int
                and int(size.this) <= MAX_SIZE_ARGUMENT
            ):
                raise SQLRefused(
                    f"{name}() needs a literal size of at most {MAX_SIZE_ARGUMENT} here"
                )


def _function_names(function: exp.Func, *, dialect: Dialect) -> set[str]:
    """Every name the function goes by: as parsed, as sqlglot calls it, as rendered."""
    names = {function.sql_name().lower(), function.key.lower()}
    if isinstance(function, exp.Anonymous):
        names.add(function.name.lower())
    rendered = function.sql(dialect=dialect).split("(", 1)[0].strip().strip('"`[]').lower()
    if rendered:
        names.add(rendered)
    return names


def _denied_name(name: str) -> bool:
    return name.startswith(DENIED_PREFIXES) or any(part in name for part in DENIED_INFIXES)


def _cap_rows(query: exp.Select | exp.SetOperation, max_rows: int) -> None:
    """Keep a literal ``LIMIT`` within the cap; replace anything else with the cap."""
    limit = query.args.get("limit")
    if isinstance(limit, exp.Limit):
        value = limit.expression
        if isinstance(value, exp.Literal) and value.is_int and int(value.this) <= max_rows:
            return
    query.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- results --------------------------------------------------------------------------------


def json_safe(value: Any) -> JSONValue:
    """A database value as something ``json.dumps`` accepts and a model can read."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return "base64:" + base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    return str(value)


def _result(columns: list[str], rows: list[Any], max_rows: int) -> QueryResult:
    return QueryResult(
        columns=columns,
        rows=[[json_safe(value) for value in row] for row in rows[:max_rows]],
        truncated=len(rows) > max_rows,
    )


# --- runners --------------------------------------------------------------------------------


class AnalyticsDatabase(Protocol):
    """What the ``sql_query`` tool needs from a database."""

    dialect: Dialect
    max_rows: int

    async def run(self, sql: str) -> QueryResult:
        """Check ``sql`` with the guard, then run it read-only."""
        ...

    async def execute_read_only(self, sql: str) -> QueryResult:
        """Run ``sql`` under the read-only layers only (no guard): tests and ``run`` use it."""
        ...


_SQLITE_READ_ACTIONS: Final = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE})


class SQLiteAnalytics:
    """The data set in a SQLite file (``create_sqlite_database``), queried read-only."""

    dialect: Dialect = "sqlite"

    def __init__(
        self,
        *,
        path: Path,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        allowed_tables: Collection[str] = ANALYTICS_TABLES,
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self.timeout_seconds = timeout_seconds
        self.allowed_tables = frozenset(t.lower() for t in allowed_tables)

    async def run(self, sql: str) -> QueryResult:
        checked = check_query(
            sql, dialect="sqlite", allowed_tables=self.allowed_tables, max_rows=self.max_rows + 1
        )
        return await self.execute_read_only(checked)

    async def execute_read_only(self, sql: str) -> QueryResult:
        return await asyncio.to_thread(self._execute, sql)

    def _execute(self, sql: str) -> QueryResult:
        connection = connect_read_only(self.path)
        deadline = time.monotonic() + self.timeout_seconds
        connection.set_authorizer(self._authorize)
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        try:
            cursor = connection.execute(sql)
            columns = [column[0] for column in cursor.description or ()]
            rows = cursor.fetchmany(self.max_rows + 1)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise QueryTimedOut(
                    f"the query ran longer than {self.timeout_seconds:g} seconds"
                ) from exc
            raise QueryFailed(f"the database refused the query: {exc}") from exc
        except sqlite3.Error as exc:
            raise QueryFailed(f"the database refused the query: {exc}") from exc
        finally:
            connection.close()
        return _result(columns, rows, self.max_rows)

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, _src: str | None
    ) -> int:
        """Allow reading the analytics tables and calling harmless functions; deny the rest.

        ``count(*)`` over a CTE reads "no column" of it, with no database name; that is
        allowed for any name but SQLite's own (``sqlite_*``, ``pragma_*``).
        """
        if action in _SQLITE_READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            table = (arg1 or "").lower()
            if table in self.allowed_tables:
                return sqlite3.SQLITE_OK
            if not arg2 and db is None and not _denied_name(table):
                return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name not in DENIED_FUNCTIONS and not _denied_name(name):
                return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open ``path`` so that it cannot be written, whatever SQL is sent afterwards.

    ``mode=ro`` makes SQLite open the file read-only (and never create it); ``query_only``
    refuses writes at the statement level too; ``ATTACH`` is limited to zero databases,
    so no other file can be opened or created through this connection.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        connection.execute("PRAGMA query_only = ON")
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_VALUE_BYTES)
        connection.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_LENGTH * 2)
    except BaseException:
        connection.close()
        raise
    return connection


class PostgresAnalytics:
    """The data set in the app's PostgreSQL database (``install_postgres``), read as a
    read-only role in a read-only transaction.

    ``SET LOCAL ROLE`` narrows privileges only down from the login user: SQL that reached
    the database past the guard could call ``set_config('role', ...)`` and read (never
    write) whatever the login user can read. The guard refuses ``set_config``; for
    isolation that does not lean on the guard, pass an ``engine`` that logs in as a reader
    role of its own (``SET LOCAL ROLE`` to itself is then a harmless no-op).
    """

    dialect: Dialect = "postgres"

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        schema: str = "analytics",
        reader_role: str = "analytics_reader",
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        allowed_tables: Collection[str] = ANALYTICS_TABLES,
    ) -> None:
        self.engine = engine
        self.schema = schema
        self.reader_role = reader_role
        self.max_rows = max_rows
        self.timeout_seconds = timeout_seconds
        self.allowed_tables = frozenset(t.lower() for t in allowed_tables)
        self._setup = (
            f"SET LOCAL ROLE {quote_identifier(reader_role)}",
            f"SET LOCAL statement_timeout = {max(1, round(timeout_seconds * 1000))}",
            f"SET LOCAL search_path = {quote_identifier(schema)}",
        )

    async def run(self, sql: str) -> QueryResult:
        checked = check_query(
            sql,
            dialect="postgres",
            allowed_tables=self.allowed_tables,
            max_rows=self.max_rows + 1,
            schema=self.schema,
        )
        return await self.execute_read_only(checked)

    async def execute_read_only(self, sql: str) -> QueryResult:
        """Run one statement read-only, going under SQLAlchemy to asyncpg on purpose.

        asyncpg's ``prepare`` refuses more than one statement, and its cursor stops at
        the row cap; SQLAlchemy's ``text()`` would also read ``:name`` inside the SQL as
        bind parameters.
        """
        async with self.engine.connect() as sqlalchemy_connection:
            raw = await sqlalchemy_connection.get_raw_connection()
            connection: Any = raw.driver_connection
            transaction = connection.transaction(readonly=True)
            await transaction.start()
            try:
                async with asyncio.timeout(self.timeout_seconds + 5):
                    for statement in self._setup:
                        await connection.execute(statement)
                    prepared = await connection.prepare(sql)
                    columns = [attribute.name for attribute in prepared.get_attributes()]
                    cursor = await prepared.cursor()
                    rows = await cursor.fetch(self.max_rows + 1)
            except asyncpg.QueryCanceledError as exc:
                raise QueryTimedOut(
                    f"the query ran longer than {self.timeout_seconds:g} seconds"
                ) from exc
            except TimeoutError as exc:
                await sqlalchemy_connection.invalidate()
                raise QueryTimedOut("the database did not answer in time") from exc
            except asyncpg.PostgresError as exc:
                raise QueryFailed(f"the database refused the query: {exc}") from exc
            finally:
                if not sqlalchemy_connection.invalidated:
                    await transaction.rollback()
        return _result(columns, [tuple(row) for row in rows], self.max_rows)
