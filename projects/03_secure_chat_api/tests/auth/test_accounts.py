"""Signup, login, refresh-token rotation and logout, from the shared contract, on project
03's users and refresh tokens."""

from __future__ import annotations

from genai_shared.testing.contracts import accounts
from secure_chat_api.auth.models import RefreshToken
from secure_chat_api.users.models import User


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
