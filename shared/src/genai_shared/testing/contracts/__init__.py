"""Contract tests: API behaviour that several projects share, written once.

A contract is a class whose name does not start with ``Test``, so pytest never collects it
on its own. A project's test module subclasses it (``class TestUsers(UsersContract)``),
sets the class attributes the contract names, and gets every test of it. The fixtures a
contract uses come from the project's ``tests/conftest.py``; each module's docstring lists
them. ``support`` holds the pieces the contracts and those conftests share.

The contracts' ``assert`` statements are rewritten by pytest like a test module's, so a
failure shows the compared values: that needs registering before the modules are imported.
"""

from __future__ import annotations

import pytest

_MODULES = (
    "accounts",
    "agent_safety",
    "app",
    "cache",
    "chat_turn",
    "conversations",
    "documents",
    "gateway",
    "idempotency",
    "messages",
    "migrations",
    "providers",
    "streaming",
    "support",
    "usage",
    "users",
)
pytest.register_assert_rewrite(*(f"{__name__}.{module}" for module in _MODULES))
