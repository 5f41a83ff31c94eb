"""Administration from the command line, for what no API call can do: make the first admin.

    production-deployment-admin promote alice@example.com    # role admin
    production-deployment-admin demote alice@example.com     # back to role user

It reads the same settings as the server (``DATABASE_URL`` ...). In a container:
``docker compose exec production-deployment production-deployment-admin promote alice@example.com``.
Everything else (budgets, disabling accounts, more admins) is the admin API's job.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from genai_shared.db.session import Database
from production_deployment.core.config import Settings, get_settings
from production_deployment.users import service as users_service
from production_deployment.users.models import Role

COMMANDS = {"promote": Role.ADMIN, "demote": Role.USER}


async def set_role(settings: Settings, email: str, role: Role) -> bool:
    """Give the user with ``email`` the ``role``; False when there is no such user."""
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            user = await users_service.get_by_email(session=session, email=email)
            if user is None:
                return False
            user.role = role.value
    finally:
        await db.dispose()
    return True


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="production-deployment-admin", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="promote: admin; demote: user")
    parser.add_argument("email", help="the account's email (signed up already)")
    args = parser.parse_args(argv)
    role = COMMANDS[args.command]
    if not asyncio.run(set_role(settings or get_settings(), args.email, role)):
        print(f"no account with the email {args.email!r}", file=sys.stderr)
        return 1
    print(f"{args.email} now has the role {role.value}")
    return 0


def run() -> None:
    """The ``production-deployment-admin`` console script."""
    raise SystemExit(main())
