"""GET /metrics: Prometheus text, behind METRICS_TOKEN when one is set."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from production_deployment.core import metrics as metrics_module
from production_deployment.core.config import Settings

TOKEN = "scrape-token-0123456789"


@pytest.mark.sqlite_only
async def test_open_without_a_token(anon):
    response = await anon.get("/metrics")
    assert response.status_code == 200
    assert "budget_refusals_total" in response.text


class TestWithAToken:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_token": TOKEN}

    @pytest.mark.parametrize(
        "authorization",
        [None, "", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN, f"Basic {TOKEN}"],
    )
    @pytest.mark.sqlite_only
    async def test_anything_but_the_token_is_401(self, anon, expect_error, authorization):
        headers = {} if authorization is None else {"Authorization": authorization}
        response = await anon.get("/metrics", headers=headers)
        expect_error(response, 401, "NotAuthenticated")
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text

    @pytest.mark.sqlite_only
    async def test_a_users_token_is_not_enough(self, anon, user, expect_error):
        expect_error(await anon.get("/metrics", headers=user.headers), 401, "NotAuthenticated")

    @pytest.mark.sqlite_only
    async def test_the_token_is_let_in(self, anon):
        response = await anon.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert "budget_refusals_total" in response.text


@pytest.mark.sqlite_only
async def test_adding_up_the_workers_files_runs_off_the_event_loop(anon, monkeypatch, tmp_path):
    """In multiprocess mode a scrape reads every worker's files: never on the loop's thread."""
    folder = tmp_path / "prometheus"  # tmp_path holds the SQLite file, a *.db too
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    collected_in: list[int] = []
    real = metrics_module.generate_latest

    def recording(registry: Any) -> bytes:
        collected_in.append(threading.get_ident())
        return real(registry)

    monkeypatch.setattr(metrics_module, "generate_latest", recording)
    response = await anon.get("/metrics")
    assert response.status_code == 200
    assert collected_in, "the exposition was not built"
    assert threading.get_ident() not in collected_in


@pytest.mark.parametrize("empty", ["", None])
def test_an_empty_token_means_none(empty):
    assert Settings(_env_file=None, metrics_token=empty).metrics_token is None


@pytest.mark.sqlite_only
async def test_a_streamed_turn_and_its_call_are_counted(client, anon, chat_path):
    streamed = await client.post(chat_path, json={"content": "count me", "stream": True})
    assert "event: done" in streamed.text
    text = (await anon.get("/metrics")).text
    assert 'llm_time_to_first_token_seconds_count{provider="mock"} 1.0' in text
    assert 'llm_provider_calls_total{model="echo-1",outcome="complete",provider="mock"} 1.0' in text
    assert 'llm_tokens_total{kind="output",model="echo-1",provider="mock"}' in text
    assert "sse_streams_in_flight 0.0" in text
    requests = (
        'http_requests_total{method="POST",route="/api/v1/conversations/{conversation_id}/chat"'
    )
    assert requests in text


def test_a_remembered_child_is_the_labelled_one_and_the_memory_is_bounded(monkeypatch):
    metrics = metrics_module.Metrics()
    first = metrics.child(metrics.http_requests, "POST", "/v1/chat/completions", "200")
    assert first is metrics.child(metrics.http_requests, "POST", "/v1/chat/completions", "200")
    first.inc()
    labelled = metrics.http_requests.labels("POST", "/v1/chat/completions", "200")
    assert labelled._value.get() == 1.0  # the same series
    monkeypatch.setattr(metrics_module, "MAX_CHILDREN", 3)
    for status in ("201", "202", "203", "204"):
        metrics.child(metrics.http_requests, "GET", "/x", status).inc()
    assert len(metrics._children) <= 3
    assert metrics.child(metrics.http_requests, "GET", "/x", "201")._value.get() == 1.0
