"""How fast project 03 turns away SQL-injection strings posing as credentials.

A credential check that builds SQL from its input can be made to wait
(``'; SELECT pg_sleep(5)--``) or to scan a whole table; a correct one rejects such
strings as fast as any other wrong credential. This benchmark sends, one at a time over
loopback, the same number of requests with

- **junk**: random wrong credentials of the same shapes and lengths (the baseline), and
- **injection**: classic SQL-injection and time-based payloads,

as a Bearer token, as an ``X-API-Key``, as the login email, and as the login password
of a real account, and reports the statuses and p50 / p99 latency of each.

Targets, per credential: every request gets the expected status (401, or 422 for a
login email that is not an email); injection p50 at most 1.5x junk p50 (no payload makes
the server do more work); and, where no password hash is checked, injection p99 under
25 ms. A login with a password always costs one Argon2 verification, by design (the same
for unknown accounts, so timing reveals nothing), so there only the ratio applies.

    uv run python benchmarks/auth_rejection.py                       # temporary SQLite
    uv run python benchmarks/auth_rejection.py \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_auth   # PostgreSQL

The PostgreSQL database must exist and be empty or already migrated; pg_sleep payloads
only mean something there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from harness import free_port, percentile_ms, process

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "projects" / "03_secure_chat_api"
RATIO_TARGET = 1.5
FAST_P99_MS = 25.0
EMAIL = "bench@example.com"
PASSWORD = "a long enough bench password"  # noqa: S105 - a throwaway account

PAYLOADS = [
    "' OR '1'='1",
    "' OR 1=1--",
    "admin'--",
    '" OR ""="',
    '1; DROP TABLE "user";--',
    '\' UNION SELECT id, email, password_hash FROM "user"--',
    "'; SELECT pg_sleep(5);--",
    "' AND 1=(SELECT 1 FROM pg_sleep(5))--",
    "' OR SLEEP(5)#",
    "1' WAITFOR DELAY '0:0:5'--",
    "sca_' OR prefix LIKE '%",
    "%' OR key_hash LIKE '%",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiInIE9SICcxJz0nMSJ9.",
    "\\x27 OR 1=1",
]


def _junk(length: int, rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=max(length, 8)))


def _key_shaped(rng: random.Random) -> str:
    """A wrong API key in the real format (``sca_<12 hex>_<43 url-safe chars>``), which
    passes the shape check and costs a lookup by prefix."""
    prefix = "".join(rng.choices("0123456789abcdef", k=12))
    secret = "".join(rng.choices(string.ascii_letters + string.digits + "-_", k=43))
    return f"sca_{prefix}_{secret}"


@dataclass
class Probe:
    """One credential position: how to send a value there, and what answer to expect."""

    name: str
    send: Callable[[httpx.AsyncClient, str], object]
    expected: set[int]
    hashes_password: bool = False
    shape: Callable[[str], str] = lambda value: value


@dataclass
class Result:
    probe: str
    kind: str
    latencies: list[float]
    statuses: dict[int, int]
    expected: set[int]

    @property
    def unexpected(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in self.expected)


def probes() -> list[Probe]:
    def bearer(client: httpx.AsyncClient, value: str) -> object:
        return client.get("/api/v1/conversations", headers={"Authorization": f"Bearer {value}"})

    def api_key(client: httpx.AsyncClient, value: str) -> object:
        return client.get("/api/v1/conversations", headers={"X-API-Key": value})

    def login_email(client: httpx.AsyncClient, value: str) -> object:
        return client.post("/api/v1/auth/login", data={"username": value, "password": PASSWORD})

    def login_password(client: httpx.AsyncClient, value: str) -> object:
        return client.post("/api/v1/auth/login", data={"username": EMAIL, "password": value})

    return [
        Probe("bearer token", bearer, {401}),
        Probe("X-API-Key", api_key, {401}),
        # Some payloads still parse as an email (quotes are legal in the local part):
        # those are unknown accounts (401, after the same dummy hash as a real one).
        Probe("login email", login_email, {401, 422}, hashes_password=True),
        Probe("login password", login_password, {401}, hashes_password=True),
    ]


async def measure(
    client: httpx.AsyncClient, probe: Probe, kind: str, values: list[str], rounds: int
) -> Result:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    for _ in range(rounds):
        for value in values:
            started = time.perf_counter()
            response = await probe.send(client, value)  # type: ignore[misc]
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return Result(probe.name, kind, latencies, statuses, probe.expected)


def migrate(env: dict[str, str]) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "alembic", "-c", str(PROJECT / "alembic.ini"), "upgrade", "head"],
        env=env,
        check=True,
        capture_output=True,
    )


async def main_async(args: argparse.Namespace) -> int:
    rng = random.Random(1234)  # noqa: S311 - repeatable junk, not secrets
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-auth-")
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{workdir}/bench.db",
        "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnop",
        "ENVIRONMENT": "production",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # The limiter would otherwise (rightly) stop a client hammering the login route.
        "RATE_LIMIT_AUTH": "1000000",
        "RATE_LIMIT_DEFAULT": "1000000",
    }
    env.pop("REDIS_URL", None)
    migrate(env)
    cmd = [sys.executable, "-c", "from secure_chat_api.main import run; run()"]
    results: list[Result] = []
    with process(cmd, port, env=env):
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            body = {"email": EMAIL, "display_name": "Bench", "password": PASSWORD}
            signup = await client.post("/api/v1/auth/signup", json=body)
            if signup.status_code not in (201, 409):
                raise SystemExit(f"signup failed: {signup.status_code} {signup.text}")
            for probe in probes():
                rounds = args.login_rounds if probe.hashes_password else args.rounds
                junk = [_junk(len(p), rng) for p in PAYLOADS]
                if probe.name == "login email":
                    junk = [f"{value.lower()}@example.com" for value in junk]
                if probe.name in ("bearer token", "X-API-Key"):
                    # Half shaped like real keys, so the baseline includes the key lookup.
                    junk[::2] = [_key_shaped(rng) for _ in junk[::2]]
                # Warm up both paths, then alternate kinds so drift hits both alike.
                await measure(client, probe, "warm-up", PAYLOADS + junk, 1)
                pair = [
                    await measure(client, probe, "junk", junk, rounds),
                    await measure(client, probe, "injection", PAYLOADS, rounds),
                ]
                results.extend(pair)
    return report(results)


def report(results: list[Result]) -> int:
    print(f"{'credential':<16} {'sent':<10} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for r in results:
        statuses = ", ".join(f"{s}x{n}" for s, n in sorted(r.statuses.items()))
        p50, p99 = percentile_ms(r.latencies, 0.5), percentile_ms(r.latencies, 0.99)
        print(f"{r.probe:<16} {r.kind:<10} {len(r.latencies):>5} {p50:8.2f} {p99:8.2f}  {statuses}")
    print("\ntargets:")
    failed = 0
    by_probe: dict[str, dict[str, Result]] = {}
    for r in results:
        by_probe.setdefault(r.probe, {})[r.kind] = r
    hashing = {p.name for p in probes() if p.hashes_password}
    for name, kinds in by_probe.items():
        junk, injection = kinds["junk"], kinds["injection"]
        checks = [
            (
                "expected statuses",
                injection.unexpected + junk.unexpected == 0,
                f"{injection.unexpected + junk.unexpected} unexpected",
            ),
        ]
        ratio = percentile_ms(injection.latencies, 0.5) / percentile_ms(junk.latencies, 0.5)
        checks.append((f"p50 ratio <= {RATIO_TARGET}", ratio <= RATIO_TARGET, f"{ratio:.2f}"))
        if name not in hashing:
            p99 = percentile_ms(injection.latencies, 0.99)
            checks.append((f"p99 <= {FAST_P99_MS:.0f} ms", p99 <= FAST_P99_MS, f"{p99:.2f} ms"))
        for label, ok, value in checks:
            failed += not ok
            print(f"  {name:<16} {label:<20} {value:>14}  {'met' if ok else 'NOT met'}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="passes over the payloads")
    parser.add_argument("--login-rounds", type=int, default=3, help="the same, for logins")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    raise SystemExit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
