"""Project 05 under load: users who chat, stream, search their documents and ask the agent.

Each simulated user signs up, logs in, opens a conversation and a collection, uploads
one small Markdown file and waits until it is ingested. Then, until the run ends, it
picks a task (weights out of 10 in brackets), waits a moment (its think time), and
picks again:

    chat turn (3)     a whole chat turn: 201 with a reply
    chat stream (3)   the same turn as server-sent events, read to the end: it must end
                      with ``event: done``; the time to the first ``delta`` event is
                      recorded as its own entry (type ``TTFT``), the wait a user feels
    search (2)        hybrid search in the user's collection: some result is expected
    agent turn (2)    the agent answers from the document (search) and the calculator:
                      it must stop with an answer that cites the document

Every request is checked: an unexpected status is a failure named ``HTTP <status>
<error type>`` (the API's error envelope), so the failures table groups them by cause.

    locust -f load/locustfile.py --host http://127.0.0.1:8000          # the web UI
    python load/run_load.py --users 20 --run-time 60s                   # headless, a report
    python load/run_load.py --tags search --users 50                    # one task only

Options of its own (after locust's): ``--model`` (a model or alias for chat and agent
turns; the server's default when empty), ``--wait-min`` / ``--wait-max`` (think time,
seconds), ``--ingest-timeout`` (seconds to wait for the document).
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from typing import Any

import requests
from locust import HttpUser, events, tag, task
from locust.clients import ResponseContextManager
from locust.exception import StopUser

PASSWORD = "load test password, not a secret"  # noqa: S105 - a throw-away account
DOCUMENT = """# Cluster sizing notes

## Shards

Each search node holds 4 shards of the product index, and the cluster runs 37 nodes.
Replicas double the storage but not the shard count.

## Backups

Snapshots run every night at 02:00 UTC and are kept for 14 days.
"""
SEARCH_QUERY = "How many shards does each search node hold?"
AGENT_QUESTION = "According to my notes, how many shards are there across the cluster: 4 * 37?"

TTFT = "TTFT"
"""The request type of the time-to-first-delta entries: it sets them apart in the stats."""


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    """This scenario's own options: ``locust --help`` lists them, the web UI shows them."""
    parser.add_argument("--model", default="", help="Model or alias for chat and agent turns")
    parser.add_argument("--wait-min", type=float, default=0.5, help="Think time, minimum (s)")
    parser.add_argument("--wait-max", type=float, default=2.0, help="Think time, maximum (s)")
    parser.add_argument(
        "--ingest-timeout", type=float, default=60, help="Seconds to wait for the document"
    )


def checked(response: ResponseContextManager, expected: int) -> bool:
    """Mark ``response`` failed unless its status is ``expected``; True when it is."""
    if response.status_code == expected:
        return True
    if response.status_code == 0:  # no response at all: refused, reset, timed out
        response.failure(f"connection error: {type(response.error).__name__}")
    else:
        response.failure(f"HTTP {response.status_code} {error_type(response)}")
    return False


def error_type(response: requests.Response) -> str:
    """The ``error.type`` of the API's error envelope, or a placeholder."""
    try:
        return str(response.json()["error"]["type"])
    except (ValueError, KeyError, TypeError):
        return "(no error envelope)"


class ChatUser(HttpUser):
    """One person using the API: their own account, conversation, collection and document."""

    def option(self, name: str, default: Any) -> Any:
        """One of the options above (their defaults when locust runs as a library)."""
        return getattr(self.environment.parsed_options, name, default)

    def wait_time(self) -> float:
        """Think time between two tasks, drawn anew each time."""
        low, high = self.option("wait_min", 0.5), self.option("wait_max", 2.0)
        return random.uniform(low, high)  # noqa: S311 - pacing, not a secret

    def on_start(self) -> None:
        self.turns = itertools.count()
        self.model: str = self.option("model", "")
        self.sign_up_and_in()
        self.conversation_id = self.create("/api/v1/conversations", {"title": "load"})
        self.agent_conversation_id = self.create("/api/v1/conversations", {"title": "agent"})
        self.collection_id = self.create("/api/v1/collections", {"name": "notes"})
        self.upload_document(timeout=self.option("ingest_timeout", 60.0))

    # --- setup: a failed step stops this user (its tasks would only fail the same way) --

    def sign_up_and_in(self) -> None:
        email = f"load-{uuid.uuid4().hex[:16]}@example.com"
        account = {"email": email, "display_name": "Load", "password": PASSWORD}
        with self.client.post(
            "/api/v1/auth/signup", json=account, name="signup", catch_response=True
        ) as response:
            if not checked(response, 201):
                raise StopUser
        form = {"username": email, "password": PASSWORD}
        with self.client.post(
            "/api/v1/auth/login", data=form, name="login", catch_response=True
        ) as response:
            if not checked(response, 200):
                raise StopUser
            token = response.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"

    def create(self, path: str, body: dict[str, str]) -> str:
        """POST ``body`` to ``path``; the new resource's id."""
        name = f"create {path.rsplit('/', 1)[-1]}"
        with self.client.post(path, json=body, name=name, catch_response=True) as response:
            if not checked(response, 201):
                raise StopUser
            return str(response.json()["id"])

    def upload_document(self, *, timeout: float) -> None:
        """Upload the notes (202: queued), then poll until they are ingested."""
        files = {"file": ("sizing.md", DOCUMENT.encode(), "text/markdown")}
        with self.client.post(
            f"/api/v1/collections/{self.collection_id}/documents",
            files=files,
            name="upload document",
            catch_response=True,
        ) as response:
            if not checked(response, 202):
                raise StopUser
            document = response.json()
        deadline = time.monotonic() + timeout
        while document["status"] in ("queued", "processing"):
            if time.monotonic() > deadline:
                self.record_failure("document ready", f"not ready after {timeout:g} s")
                raise StopUser
            time.sleep(0.5)  # gevent-patched by locust: the other users carry on meanwhile
            with self.client.get(
                f"/api/v1/documents/{document['id']}",
                name="document status",
                catch_response=True,
            ) as response:
                if not checked(response, 200):
                    raise StopUser
                document = response.json()
        if document["status"] != "ready":
            self.record_failure("document ready", f"ingestion {document['status']}")
            raise StopUser

    def record_failure(self, name: str, reason: str) -> None:
        """A failure that is no single request's (a deadline passed), in the same stats."""
        self.environment.events.request.fire(
            request_type="SETUP",
            name=name,
            response_time=0,
            response_length=0,
            exception=Exception(reason),
            context={},
        )

    # --- the tasks ----------------------------------------------------------------------

    def turn_body(self, content: str, **extra: Any) -> dict[str, Any]:
        """A chat or agent request; every prompt differs, so no response cache answers it."""
        body = {"content": f"{content} (turn {next(self.turns)})", **extra}
        if self.model:
            body["model"] = self.model
        return body

    @tag("chat")
    @task(3)
    def chat_turn(self) -> None:
        body = self.turn_body("Say hello to the load test")
        with self.client.post(
            f"/api/v1/conversations/{self.conversation_id}/chat",
            json=body,
            name="chat turn",
            catch_response=True,
        ) as response:
            if checked(response, 201) and not response.json()["assistant_message"]["content"]:
                response.failure("empty reply")

    @tag("stream")
    @task(3)
    def chat_stream(self) -> None:
        body = self.turn_body("Stream a hello to the load test", stream=True)
        started = time.perf_counter()
        first_delta_ms: float | None = None
        with self.client.post(
            f"/api/v1/conversations/{self.conversation_id}/chat",
            json=body,
            name="chat stream",
            stream=True,  # read the events as they come, not the whole body at once
            catch_response=True,
        ) as response:
            if not checked(response, 200):
                return
            events_seen: list[str] = []
            try:
                # chunk_size=None: each chunk as soon as it arrives (no 512-byte buffer).
                for raw in response.iter_lines(chunk_size=None):
                    line = raw.decode()
                    if not line.startswith("event: "):
                        continue
                    events_seen.append(line.removeprefix("event: "))
                    if events_seen[-1] == "delta" and first_delta_ms is None:
                        first_delta_ms = (time.perf_counter() - started) * 1000
            except requests.RequestException as error:
                response.failure(f"stream broken: {type(error).__name__}")
            else:
                # A chat stream that went wrong ends with `event: error` (the provider
                # failed, the server is stopping) or just stops: not with `done`.
                last = events_seen[-1] if events_seen else "nothing"
                if last != "done":
                    response.failure(f"stream did not end with event: done (last: {last})")
            # With stream=True locust timed the request up to its headers; an SSE turn is
            # over only at its last event, so the entry gets the whole duration.
            response.request_meta["response_time"] = (time.perf_counter() - started) * 1000
        if first_delta_ms is not None:
            self.environment.events.request.fire(
                request_type=TTFT,
                name="chat stream: first delta",
                response_time=first_delta_ms,
                response_length=0,
                exception=None,
                context={},
            )

    @tag("search")
    @task(2)
    def search(self) -> None:
        body = {"query": SEARCH_QUERY, "collection_ids": [self.collection_id], "limit": 5}
        with self.client.post(
            "/api/v1/search", json=body, name="search", catch_response=True
        ) as response:
            if checked(response, 200) and not response.json()["results"]:
                response.failure("no results from the uploaded document")

    @tag("agent")
    @task(2)
    def agent_turn(self) -> None:
        with self.client.post(
            f"/api/v1/conversations/{self.agent_conversation_id}/agent",
            json=self.turn_body(AGENT_QUESTION),
            name="agent turn",
            catch_response=True,
            timeout=120,
        ) as response:
            if not checked(response, 201):
                return
            answer = response.json()
            if answer["stop_reason"] != "answer":
                response.failure(f"agent stopped: {answer['stop_reason']}")
            elif not answer["citations"]:
                response.failure("answer without citations")
