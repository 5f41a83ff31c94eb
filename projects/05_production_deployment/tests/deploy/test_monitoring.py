"""The monitoring setup, checked by the real ``promtool`` (Debian's prometheus package).

The scrape config, the rule files and the rules' unit tests go through promtool as they
are; every Grafana query is parsed by promtool too (as a recording rule in a scratch file).
The metric names in the alerts, the recording rules and the dashboard must belong to the
app's metric contract, and every alert must link to its section of docs/runbook.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
REPO = PROJECT.parents[1]
PROMETHEUS = PROJECT / "deploy" / "prometheus"
CONFIG = PROMETHEUS / "prometheus.yml"
ALERTS = PROMETHEUS / "rules" / "alerts.yml"
RECORDING = PROMETHEUS / "rules" / "recording.yml"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = PROMETHEUS / "tests" / "alerts_test.yml"
GRAFANA = PROJECT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "production-deployment.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
RUNBOOK = PROJECT / "docs" / "runbook.md"

SCRAPE_JOB = "production-deployment"
TOKEN_FILE = "/run/secrets/metrics_token"

# The metric contract: what production_deployment.core.metrics exposes (plus Prometheus' `up`).
COUNTERS = {
    "http_requests_total",
    "llm_provider_calls_total",
    "llm_tokens_total",
    "llm_cost_usd_total",
    "cache_requests_total",
    "rate_limited_requests_total",
    "budget_refusals_total",
    "budget_reservations_released_total",
}
HISTOGRAMS = {"http_request_duration_seconds", "llm_time_to_first_token_seconds"}
GAUGES = {"http_requests_in_flight", "sse_streams_in_flight", "ingest_queue_depth"}
CONTRACT = (
    COUNTERS
    | GAUGES
    | {f"{name}_{suffix}" for name in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
    | {"up"}
)
CONTRACT_LABELS = {
    "method",
    "route",
    "status",
    "provider",
    "model",
    "outcome",
    "kind",
    "cache",
    "result",
    "route_class",
    "job",
    "instance",
    "le",
}
# Grafana fills these in before a query reaches Prometheus. They are replaced longest first,
# so that a short variable never eats the start of a longer one.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_NUMBERS = re.compile(r"(?<![\w:])\d[\w.]*")
_IDENTIFIER = re.compile(r"[A-Za-z_:][\w:]*")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan"}
_LEVEL_METRIC_OPERATIONS = re.compile(r"^[a-z][a-z_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail(
            "promtool is not installed: run `bash scripts/ensure_tools.sh` "
            "(it installs Debian's prometheus package)",
            pytrace=False,
        )
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in load_yaml(path)["groups"] for rule in group["rules"]]


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that draws something, including those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def grafana_to_promql(expr: str) -> str:
    for variable in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(variable, GRAFANA_VARIABLES[variable])
    return expr


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        grafana_to_promql(target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def expressions(source: str) -> list[str]:
    if source == "dashboard":
        return dashboard_expressions()
    return [rule["expr"] for rule in rules(ALERTS if source == "alerts" else RECORDING)]


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: what is left once strings, label matchers,
    ranges, grouping clauses, numbers, functions and keywords are taken out."""
    text = _STRINGS.sub('""', expr)
    for pattern in (_MATCHERS, _RANGES, _GROUPING, _NUMBERS):
        text = pattern.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        is_call = text[match.end() :].lstrip().startswith("(")
        if not is_call and match.group() not in _KEYWORDS:
            names.add(match.group())
    return names


def label_names(expr: str) -> set[str]:
    """The labels an expression matches on or groups by."""
    text = _STRINGS.sub('""', expr)
    names = {name for block in _MATCHERS.findall(text) for name in _MATCHER_LABEL.findall(block)}
    for clause in _GROUPING.findall(text):
        names |= {name.strip() for name in clause.split(",") if name.strip()}
    return names


def recorded() -> dict[str, set[str]]:
    """Each recording rule's name, and the metrics it is computed from."""
    return {rule["record"]: metric_names(rule["expr"]) for rule in rules(RECORDING)}


def github_anchor(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


class TestScrapeConfig:
    def test_passes_promtool_check_config(self, tmp_path: Path):
        """promtool insists that the token file exists, so the config is checked from a copy
        whose `credentials_file` points at a dummy token; `rules/*.yml` is copied along."""
        shutil.copytree(PROMETHEUS, tmp_path / "prometheus")
        config = tmp_path / "prometheus" / CONFIG.name
        token = tmp_path / "metrics_token"
        token.write_text("dummy-token\n")
        text = config.read_text()
        assert TOKEN_FILE in text
        config.write_text(text.replace(TOKEN_FILE, str(token)))

        result = promtool("check", "config", "--lint-fatal", config.name, cwd=config.parent)

        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout

    def test_scrapes_the_app_with_the_token_from_the_secret_file(self):
        config = load_yaml(CONFIG)
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}

        assert {SCRAPE_JOB, "prometheus"} <= set(jobs)
        assert jobs[SCRAPE_JOB]["static_configs"] == [{"targets": ["app:8000"]}]
        assert jobs[SCRAPE_JOB]["authorization"] == {
            "type": "Bearer",
            "credentials_file": TOKEN_FILE,
        }
        assert config["rule_files"] == ["rules/*.yml"]


class TestRules:
    def test_rule_files_pass_promtool_check_rules(self):
        assert {path.name for path in RULE_FILES} >= {ALERTS.name, RECORDING.name}
        files = [str(path.relative_to(PROMETHEUS)) for path in RULE_FILES]

        result = promtool("check", "rules", "--lint-fatal", *files, cwd=PROMETHEUS)

        assert result.returncode == 0, result.stdout + result.stderr

    def test_rule_unit_tests_pass(self):
        result = promtool("test", "rules", str(RULE_TESTS.relative_to(PROMETHEUS)), cwd=PROMETHEUS)

        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout

    def test_every_alert_has_a_firing_and_a_quiet_unit_test(self):
        fired: set[str] = set()
        quiet: set[str] = set()
        for case in load_yaml(RULE_TESTS)["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
        alerts = {rule["alert"] for rule in rules(ALERTS)}

        assert alerts - fired == set(), "alerts no unit test fires"
        assert alerts - quiet == set(), "alerts no unit test keeps quiet"

    def test_every_alert_waits_has_a_severity_and_explains_itself(self):
        problems = []
        for rule in rules(ALERTS):
            if "for" not in rule:
                problems.append(f"{rule['alert']}: no `for:`")
            if rule.get("labels", {}).get("severity") not in {"critical", "warning", "info"}:
                problems.append(f"{rule['alert']}: severity must be critical, warning or info")
            missing = {"summary", "description", "runbook_url"} - set(rule.get("annotations", {}))
            if missing:
                problems.append(f"{rule['alert']}: missing annotations {sorted(missing)}")

        assert problems == []

    def test_every_alert_links_to_its_runbook_section(self):
        headings = re.findall(r"^#{1,6} +(.+?) *$", RUNBOOK.read_text(), flags=re.MULTILINE)
        anchors = {github_anchor(heading) for heading in headings}
        problems = []
        for rule in rules(ALERTS):
            path, _, anchor = rule.get("annotations", {}).get("runbook_url", "").partition("#")
            if REPO / path != RUNBOOK:
                problems.append(f"{rule['alert']}: runbook_url must point at {RUNBOOK.name}")
            if anchor != rule["alert"].lower() or anchor not in anchors:
                problems.append(f"{rule['alert']}: no `## {rule['alert']}` section for #{anchor}")

        assert problems == []

    def test_recording_rules_follow_the_level_metric_operations_convention(self):
        names = list(recorded())

        assert names
        assert [name for name in names if not _LEVEL_METRIC_OPERATIONS.match(name)] == []


class TestDashboard:
    def test_every_query_parses_with_promtool(self, tmp_path: Path):
        queries = dashboard_expressions()
        assert queries
        assert [query for query in queries if "$" in query] == [], "unknown Grafana variable"
        scratch = tmp_path / "dashboard_queries.yml"
        scratch.write_text(
            yaml.safe_dump(
                {
                    "groups": [
                        {
                            "name": "dashboard",
                            "rules": [
                                {"record": f"dashboard_query_{number}", "expr": query}
                                for number, query in enumerate(queries)
                            ],
                        }
                    ]
                }
            )
        )

        result = promtool("check", "rules", scratch.name, cwd=tmp_path)

        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {len(queries)} rules found" in result.stdout

    def test_is_provisioned_with_a_fixed_uid_on_the_provisioned_datasource(self):
        dashboard = json.loads(DASHBOARD.read_text())
        (datasource,) = load_yaml(DATASOURCES)["datasources"]
        drawn = list(panels(dashboard))

        assert dashboard["uid"] == "production-deployment"
        assert dashboard["schemaVersion"] >= 39
        assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
        assert [panel["title"] for panel in drawn if not panel.get("targets")] == []
        uids = {panel["datasource"]["uid"] for panel in drawn} | {
            target["datasource"]["uid"] for panel in drawn for target in panel["targets"]
        }
        assert uids == {datasource["uid"]}
        assert datasource["type"] == "prometheus"

    def test_charts_every_metric_of_the_contract(self):
        sources = recorded()
        charted: set[str] = set()
        for query in dashboard_expressions():
            for name in metric_names(query):
                charted |= sources.get(name, {name})
        expected = COUNTERS | GAUGES | {f"{name}_bucket" for name in HISTOGRAMS} | {"up"}

        assert expected - charted == set()


class TestMetricContract:
    @pytest.mark.parametrize("source", ["alerts", "recording", "dashboard"])
    def test_queries_use_only_contract_metrics(self, source: str):
        known = CONTRACT | set(recorded())
        unknown = {
            name: query
            for query in expressions(source)
            for name in metric_names(query)
            if name not in known
        }

        assert unknown == {}

    @pytest.mark.parametrize("source", ["alerts", "recording", "dashboard"])
    def test_queries_use_only_contract_labels(self, source: str):
        unknown = {
            name: query
            for query in expressions(source)
            for name in label_names(query)
            if name not in CONTRACT_LABELS
        }

        assert unknown == {}

    @pytest.mark.parametrize("source", ["alerts", "recording", "dashboard"])
    def test_queries_select_the_scrape_job(self, source: str):
        jobs = {
            job for query in expressions(source) for job in re.findall(r'job=~?"([^"]*)"', query)
        }

        assert jobs == {SCRAPE_JOB}

    def test_the_name_check_catches_a_typo(self):
        query = (
            'sum by (route) (rate(http_request_total{status=~"5.."}[5m] offset 1h))'
            " / on (job) group_left up > 1e3 and ingest_queue_depth"
        )

        assert metric_names(query) == {"http_request_total", "up", "ingest_queue_depth"}
        assert metric_names(query) - CONTRACT == {"http_request_total"}
        assert label_names(query) == {"route", "status", "job"}
