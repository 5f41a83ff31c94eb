"""Run the Locust scenario headless, then report each request's p50/p95/p99 and its errors.

    python load/run_load.py                                 # its own server, 20 users, 60 s
    python load/run_load.py --users 10 --run-time 20s       # (or LOAD_USERS, LOAD_RUN_TIME)
    python load/run_load.py --host http://127.0.0.1:8000    # a server already running
    python load/run_load.py --tags search --model mock/echo-1   # any other option: locust's

Without ``--host`` the project is started here: migrated into a temporary SQLite
database, served by ``production-deployment`` on a free port with the offline mock model,
embedded stores and rate limits high enough not to be what is measured; it is stopped at
the end and its log kept next to the CSV files. For any other setup (workers, PostgreSQL,
a real model) start the server yourself and pass ``--host``: its rate limits then apply,
and every 429 is counted as a failure.

Locust writes ``<csv-dir>/load_stats.csv`` (one row per request name, with the
percentiles), ``load_failures.csv``, ``load_exceptions.csv`` (errors in the locustfile
itself) and its own output to ``load_locust.log``. The exit status is 1 when the failed
share of requests exceeds ``--max-error-ratio``, when no request was made or when the
locustfile raised.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
LOCUSTFILE = HERE / "locustfile.py"
SERVER = Path(sys.executable).parent / "production-deployment"
CSV_PREFIX = "load"
TTFT = "TTFT"
"""The locustfile's time-to-first-delta entries: timings of requests already counted, so
they are left out of the error ratio."""


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """This script's options; everything else is handed to locust unchanged."""
    env = os.environ.get
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        allow_abbrev=False,  # an abbreviation must not swallow one of locust's options
        epilog="Any other option goes to locust: its own (--tags chat stream, "
        "--stop-timeout ...) and the locustfile's (--model, --wait-min, --wait-max, "
        "--ingest-timeout).",
    )
    parser.add_argument("--host", default=env("LOAD_HOST"), help="Default: start the project")
    parser.add_argument("--users", type=int, default=int(env("LOAD_USERS", "20")))
    parser.add_argument(
        "--spawn-rate", type=float, default=float(env("LOAD_SPAWN_RATE", "5")), help="Users/s"
    )
    parser.add_argument(
        "--run-time", default=env("LOAD_RUN_TIME", "60s"), help="Locust's format: 60s, 5m"
    )
    parser.add_argument(
        "--csv-dir", type=Path, default=Path(env("LOAD_CSV_DIR", str(HERE / "results")))
    )
    parser.add_argument(
        "--max-error-ratio",
        type=float,
        default=float(env("LOAD_MAX_ERROR_RATIO", "0.01")),
        help="Fail above this share of failed requests (default 0.01)",
    )
    return parser.parse_known_args(argv)


# --- the server, when none is given ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(folder: Path, port: int) -> dict[str, str]:
    """A scrubbed environment: nothing from the shell decides what is measured."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(folder),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder}/load.db",
        "QDRANT_PATH": str(folder / "qdrant"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "RATE_LIMIT_DEFAULT": "100000",
        "RATE_LIMIT_CHAT": "100000",
        "RATE_LIMIT_AUTH": "100000",
        "LOG_FORMAT": "json",
    }


@contextmanager
def own_server(log_path: Path) -> Iterator[str]:
    """Migrate a fresh database, serve the project on a free port, yield its URL."""
    with tempfile.TemporaryDirectory(prefix="load-05-") as tmp:
        folder = Path(tmp)
        port = free_port()
        env = server_env(folder, port)
        alembic = [sys.executable, "-m", "alembic", "-c", str(PROJECT / "alembic.ini")]
        migrated = subprocess.run(  # noqa: S603 - our own interpreter and files
            [*alembic, "upgrade", "head"], env=env, cwd=folder, capture_output=True, text=True
        )
        if migrated.returncode != 0:
            sys.exit(f"migration failed:\n{migrated.stderr}")
        url = f"http://127.0.0.1:{port}"
        with log_path.open("w") as log:
            server = subprocess.Popen(  # noqa: S603
                [str(SERVER)], env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                wait_until_ready(url, server)
                print(f"serving {url} (log: {log_path})", flush=True)
                yield url
            finally:
                server.terminate()  # SIGTERM: gunicorn drains, then exits
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


def wait_until_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit("the server did not start: see its log")
        time.sleep(0.2)


# --- locust -------------------------------------------------------------------------------


def run_locust(
    host: str, args: argparse.Namespace, passthrough: Sequence[str], prefix: Path
) -> None:
    """Locust headless against ``host``; its own output goes to ``<prefix>_locust.log``."""
    command = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"),
        *("--host", host, "--users", str(args.users), "--spawn-rate", str(args.spawn_rate)),
        *("--run-time", args.run_time, "--csv", str(prefix)),
        # The report below decides the exit status, from the CSV files.
        *("--exit-code-on-error", "0"),
        *passthrough,
    ]
    log_path = Path(f"{prefix}_locust.log")
    print(f"locust: {args.users} users for {args.run_time} on {host} (log: {log_path})", flush=True)
    with log_path.open("w") as log:
        done = subprocess.run(  # noqa: S603 - our own interpreter
            command, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    if done.returncode != 0:
        print(log_path.read_text()[-4000:], file=sys.stderr)
        sys.exit(f"locust failed (exit status {done.returncode})")


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of ``load_stats.csv``: a request name and its response times (ms)."""

    type: str
    name: str
    requests: int
    failures: int
    p50: str
    p95: str
    p99: str
    rps: float


def read_stats(path: Path) -> list[Row]:
    """Every row of locust's stats CSV, the ``Aggregated`` total last."""
    with path.open(newline="") as file:
        return [
            Row(
                type=line["Type"],
                name=line["Name"],
                requests=int(line["Request Count"]),
                failures=int(line["Failure Count"]),
                p50=line["50%"],
                p95=line["95%"],
                p99=line["99%"],
                rps=float(line["Requests/s"]),
            )
            for line in csv.DictReader(file)
        ]


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def readable(error: str) -> str:
    """Locust keeps a failure as its exception's repr: the locustfile's own message bare."""
    match = re.fullmatch(r"""CatchResponseError\((['"])(.*)\1\)""", error)
    return match.group(2) if match else error


def format_table(rows: Sequence[Row]) -> str:
    """A fixed-width table: type, name, count, failures, p50/p95/p99 (ms), requests/s."""
    header = ("type", "name", "count", "failures", "p50 ms", "p95 ms", "p99 ms", "req/s")
    lines = [
        (r.type, r.name, str(r.requests), str(r.failures), r.p50, r.p95, r.p99, f"{r.rps:.1f}")
        for r in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]

    def line(cells: Sequence[str]) -> str:
        left = [cell.ljust(width) for cell, width in zip(cells[:2], widths[:2], strict=True)]
        right = [cell.rjust(width) for cell, width in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(line(header))
    *body, total = (line(cells) for cells in lines)
    return "\n".join([line(header), rule, *body, rule, total])


def error_ratio(rows: Sequence[Row]) -> tuple[int, int]:
    """(failures, requests) over the requests themselves: no total, no TTFT timings."""
    counted = [r for r in rows if r.name != "Aggregated" and r.type != TTFT]
    return sum(r.failures for r in counted), sum(r.requests for r in counted)


def report(prefix: Path, max_error_ratio: float) -> int:
    """Print the table, the failures and the locustfile's exceptions; the exit status."""
    rows = read_stats(Path(f"{prefix}_stats.csv"))
    print(format_table(rows))
    failed, requests = error_ratio(rows)
    failures = read_rows(Path(f"{prefix}_failures.csv"))
    if failures:
        print("\nfailures:")
        for failure in failures:
            print(
                f"  {failure['Occurrences']:>6}  {failure['Method']} {failure['Name']}: "
                f"{readable(failure['Error'])}"
            )
    exceptions = read_rows(Path(f"{prefix}_exceptions.csv"))
    for exception in exceptions:
        print(f"\nthe locustfile raised ({exception['Count']}x): {exception['Message']}")
        print(exception["Traceback"])
    ratio = failed / requests if requests else 1.0
    print(f"\nerrors: {failed} of {requests} requests ({ratio:.2%}; at most {max_error_ratio:.2%})")
    return 1 if requests == 0 or ratio > max_error_ratio or exceptions else 0


def main(argv: Sequence[str] | None = None) -> int:
    args, passthrough = parse_args(argv)
    args.csv_dir.mkdir(parents=True, exist_ok=True)
    prefix = args.csv_dir / CSV_PREFIX
    for old in args.csv_dir.glob(f"{CSV_PREFIX}_*"):
        old.unlink()  # a run that fails early must not be reported with the last one's numbers
    if args.host:
        run_locust(args.host, args, passthrough, prefix)
    else:
        with own_server(args.csv_dir / "server.log") as url:
            run_locust(url, args, passthrough, prefix)
    return report(prefix, args.max_error_ratio)


if __name__ == "__main__":
    sys.exit(main())
