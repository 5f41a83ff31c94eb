"""The SQL guard: one capped SELECT over the analytics tables, everything else refused."""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

from genai_shared.tools.analytics import ANALYTICS_TABLES
from genai_shared.tools.sql_guard import MAX_SQL_LENGTH, SQLRefused, check_query, json_safe

DIALECTS = ["sqlite", "postgres"]
CAP = 10


def check(sql: str, dialect: str = "postgres", max_rows: int = CAP) -> str:
    schema = "analytics" if dialect == "postgres" else None
    return check_query(
        sql, dialect=dialect, allowed_tables=ANALYTICS_TABLES, max_rows=max_rows, schema=schema
    )


HOSTILE_SQL = [
    # Writes and schema changes, plain or hidden in CTEs and subqueries.
    "INSERT INTO orders VALUES (1, 1, '2024-01-01', 'completed')",
    "UPDATE orders SET status = 'refunded'",
    "DELETE FROM customers",
    "DROP TABLE orders",
    "CREATE TABLE stolen AS SELECT * FROM customers",
    "ALTER TABLE orders ADD COLUMN note text",
    "TRUNCATE orders",
    "REPLACE INTO products VALUES (1, 'x', 'y', 1)",
    # More than one statement, with comment tricks.
    "SELECT 1; DROP TABLE orders",
    "SELECT 1; SELECT 2",
    "SELECT * FROM orders -- just a comment\n; DELETE FROM orders",
    "SELECT * FROM orders /* ; */ ; DELETE FROM orders",
    "/* SELECT */ DELETE FROM orders",
    "SELECT 1 --\\\n; DROP TABLE orders",
    "WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone",
    "WITH x AS (INSERT INTO orders VALUES (1, 1, '2024-01-01', 'x') RETURNING id) SELECT * FROM x",
    "WITH x AS (UPDATE orders SET status = 'x' RETURNING id) SELECT * FROM x",
    "SELECT * FROM orders WHERE id IN "
    "(WITH d AS (DELETE FROM customers RETURNING id) SELECT id FROM d)",
    # Functions that sleep, read files, change settings, reach other databases.
    "SELECT pg_sleep(10)",
    "SELECT PG_SLEEP(10)",
    'SELECT "pg_sleep"(10)',
    "SELECT pg_catalog.pg_sleep(10)",
    "SELECT * FROM orders WHERE pg_sleep(10) IS NULL",
    "SELECT pg_sleep_for('10 seconds')",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_ls_dir('.')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT dblink('host=10.0.0.1', 'select 1')",
    "SELECT set_config('role', 'postgres', false)",
    "SELECT set_config('role', 'postgres', true), query_to_xml('SELECT 1', true, true, '')",
    "SELECT current_setting('data_directory')",
    "SELECT query_to_xml('delete from orders', true, true, '')",
    "SELECT nextval('orders_id_seq')",
    "SELECT version()",
    "SELECT pg_terminate_backend(1)",
    "SELECT txid_current()",
    # Catalogs, other schemas, unknown tables, CTEs named like catalogs.
    "SELECT * FROM pg_catalog.pg_authid",
    "SELECT * FROM pg_shadow",
    "SELECT relname FROM pg_class",
    "SELECT * FROM information_schema.tables",
    "SELECT name FROM sqlite_master",
    "SELECT * FROM sqlite_schema",
    "SELECT * FROM main.sqlite_master",
    "SELECT * FROM temp.orders",
    "SELECT * FROM public.users",
    "SELECT * FROM users",
    "SELECT * FROM other_db.analytics.orders",
    "SELECT * FROM pragma_table_info('orders')",
    "SELECT * FROM pragma_database_list",
    "WITH pg_class AS (SELECT 1 AS relname) SELECT * FROM pg_class",
    "WITH sqlite_master AS (SELECT 1 AS x) SELECT * FROM sqlite_master",
    "SELECT * FROM (SELECT * FROM secrets) s",
    "SELECT (SELECT count(*) FROM pg_stat_activity)",
    "SELECT * FROM orders WHERE customer_id IN (SELECT usesysid FROM pg_user)",
    "SELECT * FROM orders o JOIN pg_roles r ON true",
    # Files, attached databases, pragmas, huge values.
    "COPY orders TO '/tmp/orders.csv'",
    "COPY (SELECT * FROM orders) TO PROGRAM 'id'",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "DETACH DATABASE evil",
    "PRAGMA writable_schema = ON",
    "PRAGMA table_info(orders)",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT fts3_tokenizer('simple')",
    "SELECT randomblob(1000000000)",
    "SELECT zeroblob(id * 1000000000) FROM orders",
    "SELECT repeat('x', 1000000000)",
    "SELECT lpad('x', 2147483647, 'y')",
    # Locks, session and transaction control, utility statements.
    "SELECT * INTO stolen FROM orders",
    "SELECT * FROM orders FOR UPDATE",
    "SET ROLE postgres",
    "RESET ROLE",
    "SET statement_timeout = 0",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "EXPLAIN ANALYZE DELETE FROM orders",
    "VACUUM",
    "ANALYZE orders",
    "GRANT ALL ON orders TO PUBLIC",
    "CALL cleanup()",
    "DO $$ BEGIN DELETE FROM orders; END $$",
    "LISTEN events",
    "NOTIFY events",
    # Not a query at all.
    "VALUES (1)",
    "",
    "  ;  ",
    "SELECT",
    "SELECT * FROM orders WHERE",
    "SELECT " + "1 + " * 3000 + "1",
    "SELECT " + "(" * 3000 + "1" + ")" * 3000,
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", HOSTILE_SQL)
def test_hostile_sql_is_refused(sql: str, dialect: str) -> None:
    with pytest.raises(SQLRefused) as refused:
        check(sql, dialect)
    assert refused.value.reason


ACCEPTED = [
    "SELECT count(*) FROM customers",
    "select name, country from customers where segment = 'enterprise' order by name",
    "SELECT c.country, SUM(oi.quantity * oi.unit_price_cents) / 100.0 AS revenue "
    "FROM order_items oi JOIN orders o ON o.id = oi.order_id "
    "JOIN customers c ON c.id = o.customer_id "
    "WHERE o.status IN ('completed', 'shipped') GROUP BY c.country ORDER BY revenue DESC",
    "WITH per_order AS (SELECT order_id, SUM(quantity) AS units FROM order_items "
    "GROUP BY order_id) SELECT AVG(units) FROM per_order",
    "SELECT category FROM products UNION SELECT status FROM orders",
    "SELECT name, RANK() OVER (PARTITION BY category ORDER BY unit_price_cents DESC) FROM products",
    "SELECT * FROM (SELECT id FROM orders) AS recent",
    "SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE country = 'JP')",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT x FROM n",
    "SELECT 'pg_sleep(10); DROP TABLE orders' AS harmless_text",
    "SELECT repeat('-', 20), lpad('7', 3, '0')",
    "SELECT * FROM Orders",
    "SELECT 1 -- a comment\n",
    "/* why */ SELECT 1;",
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", ACCEPTED)
def test_read_queries_pass_as_one_capped_select(sql: str, dialect: str) -> None:
    checked = check(sql, dialect)
    statements = sqlglot.parse(checked, read=dialect)
    assert len(statements) == 1
    query = statements[0]
    assert isinstance(query, exp.Select | exp.SetOperation)
    limit = query.args["limit"]
    assert int(limit.expression.this) <= CAP
    assert "/*" not in checked
    assert "--" not in checked


class TestRowCap:
    def test_limit_is_added(self) -> None:
        assert check("SELECT id FROM orders").endswith("LIMIT 10")

    def test_smaller_limit_is_kept(self) -> None:
        assert check("SELECT id FROM orders LIMIT 3").endswith("LIMIT 3")

    @pytest.mark.parametrize(
        "sql",
        [
            "SELECT id FROM orders LIMIT 1000000",
            "SELECT id FROM orders LIMIT ALL",
            "SELECT id FROM orders LIMIT (SELECT 1000000)",
            "SELECT id FROM orders FETCH FIRST 1000000 ROWS ONLY",
            "SELECT id FROM orders UNION ALL SELECT id FROM customers LIMIT 1000000",
        ],
    )
    def test_larger_or_computed_limit_is_clamped(self, sql: str) -> None:
        assert check(sql).endswith("LIMIT 10")

    def test_offset_survives(self) -> None:
        checked = check("SELECT id FROM orders ORDER BY id LIMIT 5 OFFSET 20")
        assert "LIMIT 5" in checked
        assert "OFFSET 20" in checked

    def test_union_is_capped_as_a_whole(self) -> None:
        checked = check("SELECT id FROM orders UNION SELECT id FROM customers")
        assert checked.endswith("UNION SELECT id FROM customers LIMIT 10")


class TestTables:
    def test_schema_qualified_names_need_the_schema(self) -> None:
        assert "analytics.orders" in check("SELECT id FROM analytics.orders")
        with pytest.raises(SQLRefused, match="outside the analytics data"):
            check_query(
                "SELECT id FROM analytics.orders",
                dialect="sqlite",
                allowed_tables=ANALYTICS_TABLES,
                max_rows=CAP,
            )

    def test_refusal_lists_the_tables(self) -> None:
        with pytest.raises(SQLRefused, match="customers, order_items, orders, products"):
            check("SELECT * FROM users")

    def test_cte_names_resolve_to_the_cte(self) -> None:
        check("WITH big AS (SELECT id FROM orders) SELECT id FROM big")


def test_too_long_sql_is_refused_before_parsing() -> None:
    with pytest.raises(SQLRefused, match=str(MAX_SQL_LENGTH)):
        check("SELECT 1" + " " * MAX_SQL_LENGTH)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (7, 7),
        ("text", "text"),
        (Decimal("12.50"), 12.5),
        (Decimal("3.000"), 3),
        (float("inf"), "inf"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (dt.timedelta(minutes=1, seconds=30), 90.0),
        (b"\x00\x01", "base64:AAE="),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ([Decimal("1"), dt.date(2024, 5, 6)], [1, "2024-05-06"]),
        ({"at": dt.date(2024, 5, 6)}, {"at": "2024-05-06"}),
    ],
)
def test_json_safe(value: object, expected: object) -> None:
    assert json_safe(value) == expected
    json.dumps(json_safe(value))
