"""production-deployment-admin: the first admin is made from the command line, not by SQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from production_deployment.admin.cli import main, set_role
from production_deployment.users.models import Role


async def test_promote_then_demote(anon, settings, user, expect_error):
    assert (await anon.get("/api/v1/admin/users", headers=user.headers)).status_code == 403
    assert await asyncio.to_thread(main, ["promote", user.email.upper()], settings) == 0
    assert (await anon.get("/api/v1/admin/users", headers=user.headers)).status_code == 200
    assert await asyncio.to_thread(main, ["demote", user.email], settings) == 0
    response = await anon.get("/api/v1/admin/users", headers=user.headers)
    expect_error(response, 403, "AdminRequired")


async def test_an_unknown_email_changes_nothing(settings, user, capsys):
    assert await set_role(settings, "nobody@example.com", Role.ADMIN) is False
    assert await asyncio.to_thread(main, ["promote", "nobody@example.com"], settings) == 1
    assert "no account" in capsys.readouterr().err


@pytest.mark.sqlite_only
def test_the_console_script_is_installed_and_reads_the_environment(tmp_path):
    """The documented command, as a user runs it: a process with DATABASE_URL set."""
    script = Path(sys.executable).parent / "production-deployment-admin"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/empty.db",
    }
    project = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(project / "alembic.ini"), "upgrade", "head"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    done = subprocess.run(
        [str(script), "promote", "ghost@example.com"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "no account with the email 'ghost@example.com'" in done.stderr
    assert "Traceback" not in done.stderr
