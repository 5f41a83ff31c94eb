"""The Locust scenario (``load/locustfile.py``) run headless by ``load/run_load.py`` against
the real server, bounded to a few seconds.

A healthy run makes every kind of request (whole and streamed chat turns, the time to the
first streamed delta, search, agent turns) without one failure, and the report prints
p50/p95/p99 per request. Then the same scenario meets a provider that breaks its stream
mid-way: the stream task must count each such turn as failed and the run must fail.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from genai_shared.testing.fake_upstream import RunningFakeUpstream

PROJECT = Path(__file__).resolve().parents[2]
RUN_LOAD = PROJECT / "load" / "run_load.py"
EVERY_TASK = [
    ("POST", "chat turn"),
    ("POST", "chat stream"),
    ("TTFT", "chat stream: first delta"),
    ("POST", "search"),
    ("POST", "agent turn"),
]


def run_load(url: str, csv_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN_LOAD), "--host", url, "--csv-dir", str(csv_dir), *args],
        capture_output=True,
        text=True,
        timeout=90,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_a_bounded_run_makes_every_request_without_a_failure_and_reports_percentiles(
    serve, fake_upstream: RunningFakeUpstream, tmp_path: Path
):
    # The default model stays the offline mock; "broken" is a provider whose stream
    # sends one delta, then an error.
    served = serve(
        OPENAI_API_KEY="sk-test-load-0123456789abcdef",
        OPENAI_BASE_URL=fake_upstream.openai_base_url,
        LLM_MODEL_ALIASES=json.dumps({"broken": "openai/gpt-4o-mini@fault=error_event_after=1"}),
    )
    # Short think times, so each of 4 users runs every task of the mix in a few seconds.
    healthy = tmp_path / "healthy"
    done = run_load(
        served.url,
        healthy,
        *("--users", "4", "--spawn-rate", "4", "--run-time", "10s"),
        *("--wait-min", "0.05", "--wait-max", "0.3"),
    )
    assert done.returncode == 0, done.stdout + done.stderr

    stats = {(row["Type"], row["Name"]): row for row in read_csv(healthy / "load_stats.csv")}
    for key in EVERY_TASK:
        assert key in stats, (key, sorted(stats))
        assert int(stats[key]["Request Count"]) >= 1, stats[key]
    assert stats[("", "Aggregated")]["Failure Count"] == "0", done.stdout
    assert read_csv(healthy / "load_failures.csv") == []
    assert read_csv(healthy / "load_exceptions.csv") == []

    # The report: a header with the percentiles, then one line per request name.
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("type"))
    assert header.split()[-7:] == ["p50", "ms", "p95", "ms", "p99", "ms", "req/s"], header
    for kind, name in EVERY_TASK:
        row = next(line for line in lines if line.startswith(kind) and f" {name} " in line)
        count, failures, p50, p95, p99 = row.removeprefix(kind).replace(name, "").split()[:5]
        assert int(count) >= 1, row
        assert failures == "0", row
        assert 0 <= int(p50) <= int(p95) <= int(p99), row
    assert "errors: 0 of" in done.stdout

    # Streams that end with `event: error` instead of `done`: every one is a failure.
    broken = tmp_path / "broken"
    failed = run_load(
        served.url,
        broken,
        *("--users", "1", "--spawn-rate", "1", "--run-time", "4s", "--tags", "stream"),
        *("--model", "broken", "--wait-min", "0.05", "--wait-max", "0.1"),
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    streams = next(r for r in read_csv(broken / "load_stats.csv") if r["Name"] == "chat stream")
    assert int(streams["Request Count"]) >= 1
    assert streams["Failure Count"] == streams["Request Count"], streams
    [failure] = read_csv(broken / "load_failures.csv")
    assert failure["Name"] == "chat stream"
    message = "stream did not end with event: done (last: error)"
    assert message in failure["Error"], failure
    assert f"POST chat stream: {message}" in failed.stdout, failed.stdout
