"""Project 05 served for real: the ``production-deployment`` command (gunicorn, uvicorn
workers) as a separate process, on a free port, with a scrubbed environment.

``serve(**env)`` migrates a fresh database, starts the server, waits for readiness and
returns a ``Served`` (its URL, the process, the log lines read so far). Every server is
stopped at the end of the test; its output must hold no traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

PROJECT = Path(__file__).resolve().parents[2]
COMMAND = Path(sys.executable).parent / "production-deployment"
SECRET_KEY = "serving-test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (gunicorn's own start-up lines are JSON too)."""
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def kill_all(self) -> None:
        """SIGKILL the master and every worker (the whole process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def worker_pids(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(p) for p in children.read_text().split()} if children.exists() else set()


def base_env(tmp_path: Path, port: int) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ENVIRONMENT": "test",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/served.db",
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "64",
        "RATE_LIMIT_DEFAULT": "100000",
        "RATE_LIMIT_CHAT": "100000",
        "RATE_LIMIT_AUTH": "100000",
        "LOG_FORMAT": "json",
        "OPENBLAS_NUM_THREADS": "1",
    }


def migrate(env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(PROJECT / "alembic.ini"), "upgrade", "head"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(**overrides: str) -> Served:
        port = free_port()
        env = {**base_env(tmp_path, port), **overrides}
        migrate(env, tmp_path)
        process = subprocess.Popen(
            [str(COMMAND)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the workers die with it
        )
        served = Served(f"http://127.0.0.1:{port}", process)
        started.append(served)

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                served.lines.append(line.rstrip("\n"))

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{served.url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the server did not start:\n" + "\n".join(served.lines[-40:]))
            time.sleep(0.2)
        return served

    yield start
    for served in started:
        served.kill_all()
    for served in started:
        output = "\n".join(served.lines)
        assert "Traceback" not in output, output[-4000:]


@pytest.fixture
def command() -> Path:
    """The console script the image runs."""
    return COMMAND


@pytest.fixture
def sign_up() -> Callable[..., None]:
    return _sign_up


def _sign_up(client: httpx.Client, email: str = "ops@example.com") -> None:
    """Sign ``client`` up and in: it carries the bearer token from then on."""
    signup = client.post(
        "/api/v1/auth/signup", json={"email": email, "display_name": "Ops", "password": PASSWORD}
    )
    assert signup.status_code == 201, signup.text
    login = client.post("/api/v1/auth/login", data={"username": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
