"""The ingestion worker's start: the app's JSON logs with secrets masked, and Sentry.

``production-deployment-worker`` is its own process, so it must set up what ``create_app``
sets up for the web workers. Its loop is replaced here by one that logs a secret.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import sentry_sdk

from production_deployment.ingest import worker
from production_deployment.observability.logs import REDACTED

PROVIDER_KEY = "sk-proj-workercanary0123456789abcdef"


@pytest.fixture
def run_worker(monkeypatch: pytest.MonkeyPatch, settings_factory):
    """``run_worker(**settings)``: the console script's ``run``, logging one secret."""

    async def logs_a_secret(settings: Any) -> None:
        logging.getLogger("production_deployment.worker").warning(
            "upstream refused %s", PROVIDER_KEY
        )

    monkeypatch.setattr(worker, "_main", logs_a_secret)

    def run(**values: Any) -> None:
        settings = settings_factory(openai_api_key=PROVIDER_KEY, **values)
        monkeypatch.setattr(worker, "get_settings", lambda: settings)
        worker.run()

    return run


def test_the_worker_logs_json_lines_with_secrets_masked(run_worker, capsys):
    run_worker(log_format="json", log_level="INFO")
    out = capsys.readouterr().out
    assert PROVIDER_KEY not in out
    records = [json.loads(line) for line in out.splitlines() if line]
    (refused,) = [r for r in records if r["logger"] == "production_deployment.worker"]
    assert refused["level"] == "WARNING"
    assert refused["message"] == f"upstream refused {REDACTED}"


def test_the_worker_starts_sentry_with_the_redactor(run_worker, monkeypatch):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda *args, **kwargs: calls.append(kwargs))
    run_worker(sentry_dsn="http://publickey@127.0.0.1:9/1")
    (options,) = calls
    assert options["release"].startswith("production-deployment@")
    assert options["include_local_variables"] is False
    event = options["before_send"]({"message": f"failed with {PROVIDER_KEY}"}, {})
    assert event["message"] == f"failed with {REDACTED}"


def test_without_a_dsn_the_worker_starts_no_sentry(run_worker, monkeypatch):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda *args, **kwargs: calls.append(kwargs))
    run_worker()
    assert calls == []
