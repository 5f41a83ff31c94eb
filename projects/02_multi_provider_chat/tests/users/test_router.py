"""The users API, from the shared contract."""

from __future__ import annotations

from genai_shared.testing.contracts.users import UsersContract


class TestUsers(UsersContract):
    pass
