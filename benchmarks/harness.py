"""What the benchmarks share: ports, server processes, CPU time and percentiles.

Imported by the scripts next to it (``python benchmarks/<name>.py`` puts this folder on
``sys.path``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
    import aiohttp

    account = {"email": email, "password": "a long enough bench password"}
    async with aiohttp.ClientSession(base_url) as session:
        await session.post("/api/v1/auth/signup", json={**account, "display_name": "Bench"})
        form = {"username": account["email"], "password": account["password"]}
        async with session.post("/api/v1/auth/login", data=form) as response:
            access = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {access}"}
        async with session.post("/api/v1/api-keys", json={"name": "bench"}, headers=headers) as r:
            return str((await r.json())["key"])
