"""SIGTERM to the real gunicorn: readiness goes, new connections are refused, streams in
flight finish, or end with an ``error`` event and their partial reply saved.

The provider is the fake OpenAI upstream, dripping one word every few hundred
milliseconds, so a stream is still running when the signal arrives.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx

from genai_shared.testing.fake_upstream import RunningFakeUpstream


def provider_env(fake_upstream: RunningFakeUpstream) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-test-drain-0123456789abcdef",
        "OPENAI_BASE_URL": fake_upstream.openai_base_url,
        # The fake upstream reads faults from the model name's suffix: words drip slowly.
        "LLM_MODEL_ALIASES": json.dumps(
            {
                "slow": "openai/gpt-4o-mini@fault=slow_drip=300",
                "brisk": "openai/gpt-4o-mini@fault=slow_drip=60",
            }
        ),
    }


class Stream(threading.Thread):
    """A streamed chat turn read line by line in a thread; ``first_delta`` is set when the
    first text arrives."""

    def __init__(self, client: httpx.Client, path: str, model: str, words: int) -> None:
        super().__init__(daemon=True)
        self.client, self.path, self.model = client, path, model
        # The fake upstream echoes the prompt, one word per delta.
        self.prompt = " ".join(f"word{i}" for i in range(words))
        self.first_delta = threading.Event()
        self.lines: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        body = {"content": self.prompt, "stream": True, "model": self.model}
        try:
            with self.client.stream("POST", f"{self.path}/chat", json=body) as response:
                assert response.status_code == 200, response.read()
                for line in response.iter_lines():
                    self.lines.append(line)
                    if line == "event: delta":
                        self.first_delta.set()
        except BaseException as error:
            self.error = error

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def start_stream(
    sign_up, served_url: str, model: str, *, words: int
) -> tuple[Stream, httpx.Client]:
    client = httpx.Client(base_url=served_url, timeout=30)
    sign_up(client)
    conversation = client.post("/api/v1/conversations", json={"title": "drain"})
    assert conversation.status_code == 201, conversation.text
    stream = Stream(client, f"/api/v1/conversations/{conversation.json()['id']}", model, words)
    stream.start()
    assert stream.first_delta.wait(20), (stream.error, stream.lines)
    return stream, client


def refused(url: str) -> bool:
    try:
        httpx.get(f"{url}/health/live", timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_a_stream_past_the_drain_deadline_ends_with_an_error_and_keeps_its_text(
    serve, fake_upstream, sign_up, tmp_path: Path
):
    served = serve(DRAIN_TIMEOUT_SECONDS="1.5", **provider_env(fake_upstream))
    # 60 words at 300 ms each: far longer than the drain.
    stream, client = start_stream(sign_up, served.url, "slow", words=60)
    signalled = time.monotonic()
    served.process.send_signal(signal.SIGTERM)

    # New connections are refused at once (the listening socket is closed).
    deadline = time.monotonic() + 3
    while not refused(served.url):
        assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
        time.sleep(0.05)

    stream.join(20)
    ended = time.monotonic() - signalled
    assert stream.error is None, stream.error
    assert "event: error" in stream.text, stream.text
    assert "ServerShuttingDown" in stream.text
    assert "event: done" not in stream.text
    assert 1.0 < ended < 6, ended  # at the drain deadline, not at once and not never
    assert served.process.wait(timeout=20) == 0

    # The partial reply is stored, marked as not complete, with the text that was sent.
    sent = "".join(
        line.split('"text":"', 1)[1].rsplit('"', 1)[0]
        for line in stream.lines
        if line.startswith('data: {"text":')
    )
    assert sent
    with sqlite3.connect(tmp_path / "served.db") as db:
        status, content = db.execute(
            "SELECT status, content FROM message WHERE role = 'assistant'"
        ).fetchone()
    assert status == "error"
    assert content == sent
    client.close()


def test_a_short_stream_in_flight_finishes_normally(serve, fake_upstream, sign_up):
    served = serve(DRAIN_TIMEOUT_SECONDS="20", **provider_env(fake_upstream))
    stream, client = start_stream(sign_up, served.url, "brisk", words=20)
    served.process.send_signal(signal.SIGTERM)
    stream.join(30)
    assert stream.error is None, stream.error
    assert "event: done" in stream.text, stream.text
    assert "event: error" not in stream.text
    assert served.process.wait(timeout=30) == 0
    client.close()


def test_bad_production_settings_stop_the_start_with_a_clear_message(tmp_path: Path, command):
    leaked = "sk-live-must-never-be-printed-0123456789"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "ENVIRONMENT": "production",
        "SECRET_KEY": "too-short-secret",
        "OPENAI_API_KEY": leaked,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
        "WEB_CONCURRENCY": "4",
        "SECRETS_DIR": str(tmp_path / "no-secrets"),
    }
    done = subprocess.run([str(command)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "SECRET_KEY" in done.stderr
    assert "32 characters" in done.stderr
    assert leaked not in done.stderr + done.stdout
    assert "too-short-secret" not in done.stderr + done.stdout


def test_secrets_are_read_from_files(tmp_path: Path):
    from production_deployment.core.config import Settings

    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "secret_key").write_text("a-secret-from-a-file-0123456789-abcdef\n")
    (folder / "metrics_token").write_text("scrape-me-0123456789")
    settings = Settings(_env_file=None, _secrets_dir=folder)  # type: ignore[call-arg]
    assert settings.secret_key.get_secret_value() == "a-secret-from-a-file-0123456789-abcdef"
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "scrape-me-0123456789"


def test_workers_whose_master_died_stop_on_their_own(serve):
    served = serve(WORKER_TIMEOUT_SECONDS="4", WEB_CONCURRENCY="1")
    workers = served.worker_pids()
    assert len(workers) == 1
    served.process.send_signal(signal.SIGKILL)  # the master only, as the OOM killer might
    served.process.wait(timeout=10)
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "an orphaned worker is still serving"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent to reap it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
