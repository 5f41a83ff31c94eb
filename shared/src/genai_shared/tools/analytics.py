"""The small analytics data set that the ``sql_query`` tool answers questions about.

Four tables of a made-up shop (customers, products, orders, order_items), a few hundred
rows generated from a fixed seed so every install, and every test, sees the same data.
It ships as code, not as a file: SQLite gets it as a database file created on demand,
PostgreSQL as the ``analytics`` schema of the app database, read through a role that can
do nothing but ``SELECT`` from it.
"""

from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncEngine

SEED: Final = 20240401
COUNTRIES: Final = ("US", "GB", "DE", "FR", "NL", "ES", "JP", "BR", "CA", "IN")
SEGMENTS: Final = ("consumer", "small_business", "enterprise")
STATUSES: Final = ("completed", "completed", "completed", "shipped", "cancelled", "refunded")
FIRST_DAY: Final = date(2024, 1, 1)

PRODUCTS: Final = (
    ("Trail Runner Shoes", "footwear", 8900),
    ("City Sneakers", "footwear", 6500),
    ("Hiking Boots", "footwear", 14900),
    ("Wool Socks (3 pack)", "footwear", 1800),
    ("Rain Jacket", "outerwear", 12900),
    ("Down Vest", "outerwear", 9900),
    ("Fleece Pullover", "outerwear", 5900),
    ("Windbreaker", "outerwear", 7400),
    ("Daypack 20L", "bags", 6900),
    ("Travel Duffel 40L", "bags", 11900),
    ("Hip Pack", "bags", 2900),
    ("Laptop Sleeve", "bags", 3400),
    ("Steel Water Bottle", "accessories", 2400),
    ("Trekking Poles", "accessories", 8400),
    ("Headlamp", "accessories", 3900),
    ("Sunglasses", "accessories", 5400),
    ("Merino Base Layer", "apparel", 7900),
    ("Running Shorts", "apparel", 3600),
    ("Organic Cotton Tee", "apparel", 2500),
    ("Softshell Pants", "apparel", 8800),
    ("Camp Stove", "camping", 6400),
    ("Two-Person Tent", "camping", 27900),
    ("Sleeping Bag", "camping", 18900),
    ("Camp Chair", "camping", 4900),
)
FIRST_NAMES: Final = ("Ada", "Bo", "Chen", "Dana", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun")
LAST_NAMES: Final = ("Ng", "Okafor", "Petrov", "Quinn", "Rossi", "Sato", "Tanaka", "Unger")

CUSTOMER_COUNT: Final = 60
ORDER_COUNT: Final = 300


@dataclass(frozen=True, slots=True)
class Table:
    """One table: its columns, their SQL types per dialect, and its rows."""

    name: str
    columns: tuple[tuple[str, str, str], ...]  # (name, SQLite type, PostgreSQL type)
    rows: tuple[tuple[Any, ...], ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column[0] for column in self.columns)


SCHEMA_DESCRIPTION: Final = """\
A small online outdoor-gear shop, orders from 2024.

customers(id, name, country, segment, signed_up_on)
  country: ISO code such as 'US', 'DE', 'JP'; segment: 'consumer', 'small_business'
  or 'enterprise'; signed_up_on: date the account was created.
products(id, name, category, unit_price_cents)
  category: 'footwear', 'outerwear', 'bags', 'accessories', 'apparel', 'camping';
  unit_price_cents: list price in US cents (8900 = $89.00).
orders(id, customer_id -> customers.id, ordered_on, status)
  ordered_on: date; status: 'completed', 'shipped', 'cancelled' or 'refunded'.
order_items(id, order_id -> orders.id, product_id -> products.id, quantity, unit_price_cents)
  unit_price_cents: the price actually paid per unit, after any discount.

Revenue is SUM(quantity * unit_price_cents) over order_items, usually counting only
orders whose status is 'completed' or 'shipped'. Money is in cents: divide by 100.0
for dollars.
"""


@cache
def analytics_tables() -> tuple[Table, ...]:
    """The data set, generated once from ``SEED``; tables in foreign-key order."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible sample data, not secrets
    customers = tuple(
        (
            customer_id,
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            rng.choice(COUNTRIES),
            rng.choice(SEGMENTS),
            FIRST_DAY - timedelta(days=rng.randrange(30, 900)),
        )
        for customer_id in range(1, CUSTOMER_COUNT + 1)
    )
    products = tuple(
        (product_id, name, category, price)
        for product_id, (name, category, price) in enumerate(PRODUCTS, start=1)
    )
    orders: list[tuple[int, int, date, str]] = []
    items: list[tuple[int, int, int, int, int]] = []
    for order_id in range(1, ORDER_COUNT + 1):
        ordered_on = FIRST_DAY + timedelta(days=rng.randrange(0, 366))
        orders.append((order_id, rng.randint(1, CUSTOMER_COUNT), ordered_on, rng.choice(STATUSES)))
        for product_id in rng.sample(range(1, len(PRODUCTS) + 1), k=rng.randint(1, 4)):
            list_price = PRODUCTS[product_id - 1][2]
            discount = rng.choice((0, 0, 0, 10, 20))
            paid = list_price * (100 - discount) // 100
            items.append((len(items) + 1, order_id, product_id, rng.randint(1, 3), paid))
    integer = ("INTEGER", "integer")
    text = ("TEXT", "text")
    day = ("TEXT", "date")  # SQLite has no date type: ISO 'YYYY-MM-DD' text sorts and compares
    return (
        Table(
            "customers",
            (
                ("id", *integer),
                ("name", *text),
                ("country", *text),
                ("segment", *text),
                ("signed_up_on", *day),
            ),
            customers,
        ),
        Table(
            "products",
            (
                ("id", *integer),
                ("name", *text),
                ("category", *text),
                ("unit_price_cents", *integer),
            ),
            products,
        ),
        Table(
            "orders",
            (("id", *integer), ("customer_id", *integer), ("ordered_on", *day), ("status", *text)),
            tuple(orders),
        ),
        Table(
            "order_items",
            (
                ("id", *integer),
                ("order_id", *integer),
                ("product_id", *integer),
                ("quantity", *integer),
                ("unit_price_cents", *integer),
            ),
            tuple(items),
        ),
    )


ANALYTICS_TABLES: Final = frozenset(table.name for table in analytics_tables())
_FOREIGN_KEYS: Final = {
    ("orders", "customer_id"): "customers",
    ("order_items", "order_id"): "orders",
    ("order_items", "product_id"): "products",
}
_IDENTIFIER: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _column_sql(table: Table, *, postgres: bool) -> str:
    parts = []
    for name, sqlite_type, postgres_type in table.columns:
        column = f"{name} {postgres_type if postgres else sqlite_type} NOT NULL"
        if name == "id":
            column += " PRIMARY KEY"
        if (table.name, name) in _FOREIGN_KEYS:
            column += f" REFERENCES {_FOREIGN_KEYS[(table.name, name)]}(id)"
        parts.append(column)
    return ", ".join(parts)


def create_sqlite_database(path: Path) -> Path:
    """Write the data set to a new SQLite file at ``path`` (replacing it) and return it.

    The file is built beside its final name and renamed into place, so a reader never
    opens a half-written database.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".{path.name}.building")
    building.unlink(missing_ok=True)
    connection = sqlite3.connect(building)
    try:
        for table in analytics_tables():
            connection.execute(f"CREATE TABLE {table.name} ({_column_sql(table, postgres=False)})")
            marks = ", ".join("?" for _ in table.columns)
            rows = [
                tuple(v.isoformat() if isinstance(v, date) else v for v in row)
                for row in table.rows
            ]
            connection.executemany(f"INSERT INTO {table.name} VALUES ({marks})", rows)  # noqa: S608
        connection.commit()
    finally:
        connection.close()
    building.replace(path)
    return path


def quote_identifier(name: str) -> str:
    """A schema or role name, checked to be a plain lowercase identifier, then quoted."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain lowercase identifier")
    return f'"{name}"'


async def install_postgres(
    engine: AsyncEngine, *, schema: str = "analytics", reader_role: str = "analytics_reader"
) -> None:
    """Create (or refill) ``schema`` with the data set and a role that can only read it.

    Run it as the app's database owner (at setup, not per request). The role is
    ``NOLOGIN``: nobody connects as it; the app switches to it with ``SET LOCAL ROLE``
    for each query, so it is granted to the current user. It gets ``USAGE`` on the schema
    and ``SELECT`` on its tables, and nothing else. Safe to run again.
    """
    schema_sql = quote_identifier(schema)
    role_sql = quote_identifier(reader_role)
    async with engine.connect() as sqlalchemy_connection:
        raw = await sqlalchemy_connection.get_raw_connection()
        await _install(
            raw.driver_connection, schema=schema, schema_sql=schema_sql, role_sql=role_sql
        )


async def _install(connection: Any, *, schema: str, schema_sql: str, role_sql: str) -> None:
    """The installation on an asyncpg connection (``COPY`` needs the driver's own API)."""
    async with connection.transaction():
        await connection.execute(
            f"DO $$ BEGIN CREATE ROLE {role_sql} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_sql}")
        await connection.execute(f"REVOKE ALL ON SCHEMA {schema_sql} FROM PUBLIC")
        tables = analytics_tables()
        for table in tables:
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {schema_sql}.{table.name} "
                f"({_column_sql(table, postgres=True)})".replace(
                    " REFERENCES ", f" REFERENCES {schema_sql}."
                )
            )
        names = ", ".join(f"{schema_sql}.{table.name}" for table in tables)
        await connection.execute(f"TRUNCATE {names}")
        for table in tables:
            await connection.copy_records_to_table(
                table.name, records=table.rows, columns=table.column_names, schema_name=schema
            )
        await connection.execute(f"GRANT USAGE ON SCHEMA {schema_sql} TO {role_sql}")
        await connection.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema_sql} TO {role_sql}")
        await connection.execute(f"GRANT {role_sql} TO CURRENT_USER")
