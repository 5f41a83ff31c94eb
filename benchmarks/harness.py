"""What the benchmarks share: ports, server processes, CPU time and percentiles, and the
chat-completion load (``measure``, ``measure_each``) of the gateway benchmarks.

Imported by the scripts next to it (``python benchmarks/<name>.py`` puts this folder on
``sys.path``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ANY_KEY = "bench"  # the fake upstream (and project 02) take any key
BODY_MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "Give me one sentence about benchmarks, please."},
]


def percentile_ms(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of durations in seconds, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc), or 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def process(cmd: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[int]:
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally, after the process
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        wait_for_port(port)
        yield proc.pid
    except Exception:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-4000:])
        raise
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def pinned(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


async def signed_up_api_key(base_url: str, email: str = "bench@example.com") -> str:
    """Sign up, log in and create an API key on projects 03-05 (the SDK's way in)."""
    account = {"email": email, "password": "a long enough bench password"}
    async with aiohttp.ClientSession(base_url) as session:
        await session.post("/api/v1/auth/signup", json={**account, "display_name": "Bench"})
        form = {"username": account["email"], "password": account["password"]}
        async with session.post("/api/v1/auth/login", data=form) as response:
            access = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {access}"}
        async with session.post("/api/v1/api-keys", json={"name": "bench"}, headers=headers) as r:
            return str((await r.json())["key"])


# --- chat-completion load ------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A chat-completions endpoint to measure: the model name it takes, the key it wants,
    and the process whose CPU time is charged to its calls (0: none)."""

    label: str
    url: str
    model: str
    token: str = ANY_KEY
    pid: int = 0


@dataclass
class Run:
    label: str
    concurrency: int
    stream: bool
    latencies: list[float]
    ttfts: list[float]
    errors: int
    elapsed: float
    cpu_ms_per_request: float | None = None

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def p50(self) -> float:
        return percentile_ms(self.latencies, 0.50)

    def p99(self) -> float:
        return percentile_ms(self.latencies, 0.99)

    def ttft50(self) -> float:
        return percentile_ms(self.ttfts, 0.50)


async def one_request(
    session: aiohttp.ClientSession, url: str, model: str, stream: bool, token: str = ANY_KEY
) -> tuple[float, float | None]:
    body = {"model": model, "messages": BODY_MESSAGES, "max_tokens": 64, "stream": stream}
    started = time.perf_counter()
    first: float | None = None
    async with session.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {(await resp.text())[:200]}")
        if stream:
            async for line in resp.content:
                is_text = b'"content":"' in line and b'"content":""' not in line
                if first is None and line.startswith(b"data: {") and is_text:
                    first = time.perf_counter() - started
            # the stream has ended ([DONE] or EOF)
        else:
            json.loads(await resp.read())
    return time.perf_counter() - started, first


async def measure(
    endpoint: Endpoint, *, stream: bool, concurrency: int, requests: int, max_seconds: float
) -> Run:
    """``requests`` calls (fewer if ``max_seconds`` runs out) from ``concurrency`` workers,
    after a warm-up that is not counted."""
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    url, model, token, pid = endpoint.url, endpoint.model, endpoint.token, endpoint.pid
    latencies: list[float] = []
    ttfts: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(min(20, requests)):  # warm-up: connections, imports, caches
            await one_request(session, url, model, stream, token)
        queue = iter(range(requests))
        deadline = time.perf_counter() + max_seconds
        cpu_before = cpu_seconds(pid) if pid else 0.0
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal errors
            for _ in queue:
                if time.perf_counter() > deadline:
                    return
                try:
                    latency, first = await one_request(session, url, model, stream, token)
                except Exception:
                    errors += 1
                    continue
                latencies.append(latency)
                if first is not None:
                    ttfts.append(first)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = (cpu_seconds(pid) - cpu_before) if pid else None
    per_request = cpu * 1000 / len(latencies) if cpu and latencies else None
    return Run(endpoint.label, concurrency, stream, latencies, ttfts, errors, elapsed, per_request)


async def measure_each(
    endpoints: Sequence[Endpoint],
    concurrencies: Sequence[int],
    *,
    stream: bool,
    requests: int,
    max_seconds: float,
) -> list[Run]:
    """Every endpoint at every concurrency. At each concurrency the endpoints run one
    after the other, so the runs a report compares were made close together in time."""
    runs: list[Run] = []
    for concurrency in concurrencies:
        for endpoint in endpoints:
            runs.append(
                await measure(
                    endpoint,
                    stream=stream,
                    concurrency=concurrency,
                    requests=requests,
                    max_seconds=max_seconds,
                )
            )
    return runs
