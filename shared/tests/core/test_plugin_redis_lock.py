"""Two test runs on one machine never share the test Redis database at the same time."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

URL = "redis://127.0.0.1:6379/9"
PROBE = """
def test_owns_the_database(redis_url):
    assert redis_url.endswith("/9")
"""


def test_a_second_run_waits_for_the_first(tmp_path: Path) -> None:
    digest = hashlib.sha256(URL.encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"genai-test-redis-{digest}.lock"
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {**os.environ, "GENAI_INTEGRATION": "1", "GENAI_TEST_REDIS_URL": URL}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    output: list[str] = []
    waiting = threading.Event()

    def read(stream: IO[str]) -> None:
        for line in stream:
            output.append(line)
            if "waiting for it" in line:
                waiting.set()

    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the first run holds the database
        run = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert run.stdout is not None
        reader = threading.Thread(target=read, args=(run.stdout,), daemon=True)
        reader.start()
        said_so = waiting.wait(timeout=60)  # hang guard, not a speed expectation
        fcntl.flock(held, fcntl.LOCK_UN)  # the first run ends
    run.wait(timeout=120)
    reader.join(timeout=10)
    text = "".join(output)
    assert said_so, text
    assert run.returncode == 0, text
    assert "1 passed" in text
