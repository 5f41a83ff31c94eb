"""The read-only runners: answers from the data set, hostile SQL refused, capped or stopped.

Every test runs on SQLite, and on the real PostgreSQL as an integration test (the
plugin's ``backend`` fixture). The ``TestUnderTheGuard`` tests send SQL straight to
``execute_read_only``, as if the guard had been bypassed: the read-only layers alone
must still stop writes and runaway queries.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from genai_shared.tools.analytics import (
    SCHEMA_DESCRIPTION,
    analytics_tables,
    create_sqlite_database,
    install_postgres,
)
from genai_shared.tools.sql_guard import (
    AnalyticsDatabase,
    PostgresAnalytics,
    QueryFailed,
    QueryTimedOut,
    SQLiteAnalytics,
    SQLRefused,
    connect_read_only,
)

CAP = 25
TIMEOUT = 5.0  # generous for real queries on a busy machine
SHORT_TIMEOUT = 0.5  # for the queries that must be stopped

TABLES = {table.name: table for table in analytics_tables()}


def _run_async(make: Callable[[], Awaitable[None]]) -> None:
    """Run a coroutine from a sync (module-scoped) fixture, off pytest's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, make()).result()  # type: ignore[arg-type]


@dataclass(frozen=True)
class PostgresInstall:
    url: str
    schema: str
    role: str
    secret_table: str


@pytest.fixture(scope="module")
def sqlite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_sqlite_database(tmp_path_factory.mktemp("analytics") / "analytics.db")


@pytest.fixture(scope="module")
def postgres_install(postgres_database: str) -> Iterator[PostgresInstall]:
    """The data set in its own schema of the session's test database, with its own role.

    Names are unique per run: roles belong to the whole server, which other test runs
    share. A table in ``public`` stands for the app's own data the role must not see.
    """
    suffix = uuid.uuid4().hex[:10]
    install = PostgresInstall(
        url=postgres_database,
        schema=f"analytics_{suffix}",
        role=f"analytics_reader_{suffix}",
        secret_table=f"app_secret_{suffix}",
    )

    async def setup() -> None:
        engine = create_async_engine(install.url)
        try:
            await install_postgres(engine, schema=install.schema, reader_role=install.role)
            await install_postgres(engine, schema=install.schema, reader_role=install.role)
            async with engine.begin() as connection:
                await connection.exec_driver_sql(
                    f"CREATE TABLE public.{install.secret_table} (token text)"
                )
                await connection.exec_driver_sql(
                    f"INSERT INTO public.{install.secret_table} VALUES ('s3cret')"
                )
        finally:
            await engine.dispose()

    async def teardown() -> None:
        engine = create_async_engine(install.url)
        try:
            async with engine.begin() as connection:
                for statement in (
                    f"DROP TABLE IF EXISTS public.{install.secret_table}",
                    f'DROP SCHEMA IF EXISTS "{install.schema}" CASCADE',
                    f'DROP OWNED BY "{install.role}"',
                    f'DROP ROLE IF EXISTS "{install.role}"',
                ):
                    await connection.exec_driver_sql(statement)
        finally:
            await engine.dispose()

    _run_async(setup)
    yield install
    _run_async(teardown)


OpenAnalytics = Callable[..., Awaitable[AnalyticsDatabase]]


@pytest.fixture
async def open_analytics(
    backend: str, request: pytest.FixtureRequest, sqlite_path: Path
) -> AsyncIterator[OpenAnalytics]:
    """``await open_analytics(timeout_seconds=...)``: a runner on this test's backend."""
    engines: list[Any] = []

    async def make(timeout_seconds: float = TIMEOUT) -> AnalyticsDatabase:
        if backend == "sqlite":
            return SQLiteAnalytics(path=sqlite_path, max_rows=CAP, timeout_seconds=timeout_seconds)
        install: PostgresInstall = request.getfixturevalue("postgres_install")
        engine = create_async_engine(install.url)
        engines.append(engine)
        return PostgresAnalytics(
            engine=engine,
            schema=install.schema,
            reader_role=install.role,
            max_rows=CAP,
            timeout_seconds=timeout_seconds,
        )

    yield make
    for engine in engines:
        await engine.dispose()


@pytest.fixture
async def analytics(open_analytics: OpenAnalytics) -> AnalyticsDatabase:
    return await open_analytics()


async def assert_data_intact(db: AnalyticsDatabase) -> None:
    for name, table in TABLES.items():
        result = await db.run(f"SELECT count(*) AS n FROM {name}")
        assert result.rows == [[len(table.rows)]], name


# --- answers ---------------------------------------------------------------------------------


class TestAnswers:
    async def test_counts_match_the_data_set(self, analytics: AnalyticsDatabase) -> None:
        await assert_data_intact(analytics)

    async def test_revenue_by_category_matches_python(self, analytics: AnalyticsDatabase) -> None:
        products = {row[0]: row[2] for row in TABLES["products"].rows}
        counted = {row[0] for row in TABLES["orders"].rows if row[3] in {"completed", "shipped"}}
        expected: Counter[str] = Counter()
        for _, order_id, product_id, quantity, paid in TABLES["order_items"].rows:
            if order_id in counted:
                expected[products[product_id]] += quantity * paid
        result = await analytics.run(
            "SELECT p.category, SUM(oi.quantity * oi.unit_price_cents) AS revenue "
            "FROM order_items oi JOIN orders o ON o.id = oi.order_id "
            "JOIN products p ON p.id = oi.product_id "
            "WHERE o.status IN ('completed', 'shipped') "
            "GROUP BY p.category ORDER BY p.category"
        )
        assert result.columns == ["category", "revenue"]
        assert dict(map(tuple, result.rows)) == dict(sorted(expected.items()))  # type: ignore[arg-type]
        assert result.truncated is False

    async def test_rows_are_json_safe(self, analytics: AnalyticsDatabase) -> None:
        first = TABLES["orders"].rows[0]
        result = await analytics.run(
            f"SELECT id, ordered_on, status, 1.5 AS ratio FROM orders WHERE id = {first[0]}"
        )
        assert result.rows == [[first[0], first[2].isoformat(), first[3], 1.5]]
        json.dumps(result.rows)

    async def test_over_the_cap_is_truncated(self, analytics: AnalyticsDatabase) -> None:
        result = await analytics.run("SELECT id FROM order_items ORDER BY id")
        assert result.rows == [[i] for i in range(1, CAP + 1)]
        assert result.truncated is True

    async def test_exactly_the_cap_is_not_truncated(self, analytics: AnalyticsDatabase) -> None:
        result = await analytics.run(f"SELECT id FROM order_items ORDER BY id LIMIT {CAP}")
        assert len(result.rows) == CAP
        assert result.truncated is False

    def test_schema_description_names_every_table_and_column(self) -> None:
        for table in TABLES.values():
            assert f"{table.name}(" in SCHEMA_DESCRIPTION
            for column in table.column_names:
                assert column in SCHEMA_DESCRIPTION


# --- hostile SQL through the tool ------------------------------------------------------------

REFUSED = [
    "DELETE FROM orders",
    "UPDATE orders SET status = 'refunded'",
    "DROP TABLE order_items",
    "SELECT 1; DROP TABLE orders",
    "SELECT * FROM orders -- harmless?\n; DELETE FROM orders",
    "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
    "SELECT pg_sleep(10)",
    "SELECT * FROM pg_catalog.pg_class",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM sqlite_master",
    "COPY orders TO '/tmp/orders.csv'",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "PRAGMA writable_schema = ON",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT randomblob(1000000000)",
]


@pytest.mark.parametrize("sql", REFUSED)
async def test_hostile_sql_is_refused(analytics: AnalyticsDatabase, sql: str) -> None:
    with pytest.raises(SQLRefused):
        await analytics.run(sql)
    await assert_data_intact(analytics)


CAPPED = [
    # 758**3 (about 4 * 10**8) rows, only CAP + 1 of which are ever produced.
    "SELECT a.id, b.id, c.id FROM order_items a CROSS JOIN order_items b CROSS JOIN order_items c",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n",
    "SELECT id FROM orders LIMIT 1000000000",
]


@pytest.mark.parametrize("sql", CAPPED)
async def test_huge_results_are_capped(analytics: AnalyticsDatabase, sql: str) -> None:
    result = await analytics.run(sql)
    assert len(result.rows) == CAP
    assert result.truncated is True


STOPPED = [
    # A 758**4 (about 3 * 10**11) row cross join that only returns one row.
    "SELECT count(*) FROM order_items a, order_items b, order_items c, order_items d",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
]


@pytest.mark.parametrize("sql", STOPPED)
async def test_runaway_queries_are_stopped(open_analytics: OpenAnalytics, sql: str) -> None:
    db = await open_analytics(timeout_seconds=SHORT_TIMEOUT)
    with pytest.raises(QueryTimedOut, match=r"longer than 0\.5 seconds"):
        await db.run(sql)
    await assert_data_intact(db)


# --- the layers under the guard --------------------------------------------------------------

WRITES = [
    "DELETE FROM orders",
    "UPDATE orders SET status = 'refunded'",
    "INSERT INTO products VALUES (99, 'Stolen', 'loot', 1)",
    "DROP TABLE order_items",
    "CREATE TABLE stolen (x integer)",
    "ALTER TABLE orders ADD COLUMN note text",
]


class TestUnderTheGuard:
    @pytest.mark.parametrize("sql", WRITES)
    async def test_writes_fail_without_the_guard(
        self, analytics: AnalyticsDatabase, sql: str
    ) -> None:
        with pytest.raises(QueryFailed):
            await analytics.execute_read_only(sql)
        await assert_data_intact(analytics)

    async def test_row_cap_holds_without_the_guard(self, analytics: AnalyticsDatabase) -> None:
        result = await analytics.execute_read_only(
            "SELECT a.id FROM order_items a CROSS JOIN order_items b"
        )
        assert len(result.rows) == CAP
        assert result.truncated is True

    async def test_timeout_holds_without_the_guard(self, open_analytics: OpenAnalytics) -> None:
        db = await open_analytics(timeout_seconds=SHORT_TIMEOUT)
        with pytest.raises(QueryTimedOut):
            await db.execute_read_only(
                "SELECT count(*) FROM order_items a, order_items b, order_items c, order_items d"
            )


class TestSQLiteLayers:
    @pytest.fixture
    def backend(self) -> str:
        return "sqlite"

    @pytest.mark.parametrize(
        "sql",
        [
            "SELECT name FROM sqlite_master",
            "SELECT count(*) FROM sqlite_master",
            "PRAGMA writable_schema = ON",
            "PRAGMA query_only = OFF",
            "SELECT load_extension('/tmp/evil.so')",
            "SELECT length(randomblob(100000000))",
            "SELECT length(zeroblob(100000000))",
            "SELECT * FROM pragma_table_info('orders')",
            "BEGIN IMMEDIATE",
        ],
    )
    async def test_authorizer_and_limits_refuse(
        self, analytics: AnalyticsDatabase, sql: str
    ) -> None:
        with pytest.raises(QueryFailed):
            await analytics.execute_read_only(sql)

    async def test_attach_cannot_create_a_file(
        self, analytics: AnalyticsDatabase, tmp_path: Path
    ) -> None:
        target = tmp_path / "evil.db"
        with pytest.raises(QueryFailed):
            await analytics.execute_read_only(f"ATTACH DATABASE '{target}' AS evil")
        assert not target.exists()

    def test_read_only_connection_alone_refuses_writes(
        self, sqlite_path: Path, tmp_path: Path
    ) -> None:
        """No authorizer here: ``mode=ro`` and ``query_only`` on their own."""
        connection = connect_read_only(sqlite_path)
        try:
            for sql in WRITES:
                with pytest.raises(sqlite3.Error, match=r"readonly|read-only|attempt to write"):
                    connection.execute(sql)
            with pytest.raises(sqlite3.Error):
                connection.execute(f"ATTACH DATABASE '{tmp_path / 'x.db'}' AS x")
            assert not (tmp_path / "x.db").exists()
        finally:
            connection.close()

    def test_missing_file_is_not_created(self, tmp_path: Path) -> None:
        with pytest.raises(sqlite3.OperationalError):
            connect_read_only(tmp_path / "absent.db")
        assert not (tmp_path / "absent.db").exists()


@pytest.mark.integration
class TestPostgresLayers:
    @pytest.fixture
    def backend(self) -> str:
        return "postgres"

    async def test_queries_run_as_the_reader_role(
        self, analytics: AnalyticsDatabase, postgres_install: PostgresInstall
    ) -> None:
        result = await analytics.execute_read_only(
            "SELECT current_user, current_setting('transaction_read_only')"
        )
        assert result.rows == [[postgres_install.role, "on"]]

    @pytest.mark.parametrize(
        "sql",
        [
            "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
            "SELECT 1; DELETE FROM orders",
            "SELECT set_config('transaction_read_only', 'off', true)",
            "SELECT pg_read_file('/etc/hostname')",
            "SELECT * FROM pg_catalog.pg_authid",
            "COPY orders TO '/tmp/orders.csv'",
            "CREATE TEMP TABLE scratch (x integer)",
        ],
    )
    async def test_read_only_layers_refuse(self, analytics: AnalyticsDatabase, sql: str) -> None:
        with pytest.raises(QueryFailed):
            await analytics.execute_read_only(sql)
        await assert_data_intact(analytics)

    async def test_huge_series_is_capped(self, analytics: AnalyticsDatabase) -> None:
        """In the select list a set-returning function streams: the LIMIT stops it."""
        result = await analytics.run("SELECT generate_series(1, 1000000000) AS g")
        assert [row[0] for row in result.rows] == list(range(1, CAP + 1))
        assert result.truncated is True

    async def test_huge_series_in_from_is_stopped(self, open_analytics: OpenAnalytics) -> None:
        """In FROM, PostgreSQL materialises the whole series first: the timeout stops it."""
        db = await open_analytics(timeout_seconds=SHORT_TIMEOUT)
        with pytest.raises(QueryTimedOut):
            await db.run("SELECT * FROM generate_series(1, 1000000000) AS g")

    async def test_app_tables_are_out_of_reach(
        self, analytics: AnalyticsDatabase, postgres_install: PostgresInstall
    ) -> None:
        with pytest.raises(QueryFailed, match="permission denied"):
            await analytics.execute_read_only(
                f"SELECT token FROM public.{postgres_install.secret_table}"
            )

    async def test_pg_sleep_is_cut_by_the_statement_timeout(
        self, open_analytics: OpenAnalytics
    ) -> None:
        db = await open_analytics(timeout_seconds=SHORT_TIMEOUT)
        with pytest.raises(QueryTimedOut):
            await db.execute_read_only("SELECT pg_sleep(30)")

    async def test_the_role_alone_cannot_write(self, postgres_install: PostgresInstall) -> None:
        """Outside a read-only transaction, the role's grants are the only barrier."""
        dsn = postgres_install.url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(dsn)
        try:
            for sql in WRITES:
                transaction = connection.transaction()
                await transaction.start()
                try:
                    await connection.execute(f'SET LOCAL ROLE "{postgres_install.role}"')
                    await connection.execute(f'SET LOCAL search_path = "{postgres_install.schema}"')
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await connection.execute(sql)
                finally:
                    await transaction.rollback()
        finally:
            await connection.close()

    async def test_the_connection_is_clean_afterwards(
        self, analytics: AnalyticsDatabase, postgres_install: PostgresInstall
    ) -> None:
        """A refused query leaves no role, timeout or open transaction on the pooled connection."""
        assert isinstance(analytics, PostgresAnalytics)
        with pytest.raises(QueryFailed):
            await analytics.execute_read_only("DELETE FROM orders")
        async with analytics.engine.connect() as connection:
            row = (
                await connection.exec_driver_sql(
                    "SELECT current_user, current_setting('statement_timeout')"
                )
            ).one()
        assert row[0] != postgres_install.role
        assert row[1] == "0"
