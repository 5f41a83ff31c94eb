"""What `make run` does, end to end: migrate, serve the main project, use the whole API.

Run as separate processes with a scrubbed environment (only PATH, HOME, PORT and a
temporary DATABASE_URL), so no setting leaks in from the developer's shell.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
MAIN_PROJECT = REPO / "projects" / "05_production_deployment"
NOTES = """# Cluster sizing notes

## Shards

Each search node holds 4 shards of the product index, and the cluster runs 37 nodes.
Replicas double the storage but not the shard count.
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served_main(tmp_path):
    port = _free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PORT": str(port),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/main.db",
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    migrate = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(MAIN_PROJECT / "alembic.ini"),
            "upgrade",
            "head",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "production-deployment")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base_url}/health/live", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{server.stdout.read()}")
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        output = server.communicate(timeout=15)[0]
    assert "Traceback" not in output, output


def test_main_project_serves_the_whole_flow_on_defaults(served_main):
    with httpx.Client(base_url=served_main, timeout=10) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"]["status"] == "ok"
        assert client.get("/api/v1/conversations").status_code == 401

        signup = client.post(
            "/api/v1/auth/signup",
            json={"email": "e2e@example.com", "display_name": "E", "password": "correct horse 42"},
        )
        assert signup.status_code == 201, signup.text
        login = client.post(
            "/api/v1/auth/login",
            data={"username": "e2e@example.com", "password": "correct horse 42"},
        )
        assert login.status_code == 200, login.text
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

        conversation = client.post("/api/v1/conversations", json={"title": "e2e"})
        assert conversation.status_code == 201, conversation.text
        path = f"/api/v1/conversations/{conversation.json()['id']}"

        turn = client.post(f"{path}/chat", json={"content": "hello"})
        assert turn.status_code == 201, turn.text
        assert turn.json()["assistant_message"]["content"] == "Echo: hello"

        streamed = client.post(f"{path}/chat", json={"content": "again", "stream": True})
        assert streamed.status_code == 200
        assert "event: done" in streamed.text

        history = client.get(f"{path}/messages").json()["items"]
        assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]

        gateway = client.post(
            "/v1/chat/completions",
            json={"model": "mock/echo-1", "messages": [{"role": "user", "content": "hey"}]},
        )
        assert gateway.json()["choices"][0]["message"]["content"] == "Echo: hey"
        usage = client.get("/api/v1/usage")
        assert usage.status_code == 200, usage.text
        assert client.get("/docs").status_code == 200

        _upload_then_ask_the_agent(client)


def _upload_then_ask_the_agent(client: httpx.Client) -> None:
    """Project 04's flow: a Markdown file in, a question that needs search and arithmetic,
    an answer that cites the file."""
    collection = client.post("/api/v1/collections", json={"name": "ops notes"})
    assert collection.status_code == 201, collection.text
    upload = client.post(
        f"/api/v1/collections/{collection.json()['id']}/documents",
        files={"file": ("sizing.md", NOTES.encode(), "text/markdown")},
    )
    assert upload.status_code == 202, upload.text
    document = upload.json()
    deadline = time.monotonic() + 120  # ingestion runs in-process, off the request path
    while document["status"] in ("queued", "processing"):
        assert time.monotonic() < deadline, document
        time.sleep(0.5)
        document = client.get(f"/api/v1/documents/{document['id']}").json()
    assert document["status"] == "ready", document

    conversation = client.post("/api/v1/conversations", json={"title": "sizing"}).json()
    answer = client.post(
        f"/api/v1/conversations/{conversation['id']}/agent",
        json={"content": "How many shards are there across the cluster: 4 * 37?"},
        timeout=120,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["stop_reason"] == "answer", body
    called = {call["name"] for step in body["steps"] for call in step.get("tool_calls", [])}
    assert {"search_documents", "calculator"} <= called, body["steps"]
    assert "148" in body["answer"], body["answer"]
    assert body["citations"], body
    assert body["citations"][0]["document_id"] == document["id"]
