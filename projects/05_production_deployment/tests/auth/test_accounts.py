"""Signup, login, refresh-token rotation and logout, from the shared contract, on project
05's users and refresh tokens."""

from __future__ import annotations

from genai_shared.testing.contracts import accounts
from production_deployment.auth.models import RefreshToken
from production_deployment.users.models import User


class _Models:
    user_model = User
    refresh_token_model = RefreshToken


class TestSignup(_Models, accounts.SignupContract):
    pass


class TestLogin(_Models, accounts.LoginContract):
    pass


class TestRefresh(_Models, accounts.RefreshContract):
    pass


class TestLogout(_Models, accounts.LogoutContract):
    pass


class TestMe(_Models, accounts.MeContract):
    pass
