"""The providers the app reports, from the shared contract; the caller is a signed-in user.

Project 05's own lesson here: even the list of providers is behind a credential, checked
the same way as everywhere else (a revoked or wrong one is 401, an API key needs its
``read`` scope), and what it shows never includes a provider key.
"""

from __future__ import annotations

import pytest

from genai_shared.testing.contracts.providers import CANARY, ProvidersContract
from production_deployment.core.config import Settings
from production_deployment.core.database import Base

PROVIDERS = "/api/v1/providers"


class TestProviders(ProvidersContract):
    settings_class = Settings
    metadata = Base.metadata


class TestAccess:
    async def test_without_a_valid_credential_it_is_401(
        self, anon, client, make_api_key, expect_error
    ) -> None:
        """No header, a made-up token, a revoked key: 401 with the same message, no list."""
        key = await make_api_key()
        assert (await client.delete(f"/api/v1/api-keys/{key['id']}")).status_code == 204
        attempts = [
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": f"Bearer {key['key']}"},
            {"X-API-Key": key["key"]},
        ]
        for headers in attempts:
            for path in (PROVIDERS, "/v1/models"):
                response = await anon.get(path, headers=headers)
                error = expect_error(response, 401, "NotAuthenticated")
                assert error["message"] == "Missing or invalid credentials"
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert "mock/echo-1" not in response.text

    async def test_an_api_key_needs_the_read_scope(self, anon, make_api_key, expect_error) -> None:
        reader = await make_api_key(scopes=["read"])
        chatter = await make_api_key(scopes=["chat"])

        allowed = await anon.get(PROVIDERS, headers={"X-API-Key": reader["key"]})
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["default_model"] == "mock/echo-1"
        assert allowed.headers["ratelimit-limit"] == "10000"  # counted against the caller

        refused = await anon.get(PROVIDERS, headers={"X-API-Key": chatter["key"]})
        expect_error(refused, 403, "InsufficientScope")
        assert "mock/echo-1" not in refused.text


class TestWithAProviderKey:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, str]:
        return {"openai_api_key": CANARY, "openai_base_url": "http://u:hunter2@127.0.0.1:9/v1"}

    async def test_the_signed_in_caller_sees_that_a_key_exists_never_the_key(
        self, client, make_api_key
    ) -> None:
        """By access token and by API key alike; a URL's password is dropped too."""
        key = await make_api_key()
        for headers in (None, {"Authorization": f"Bearer {key['key']}"}):
            response = await client.get(PROVIDERS, headers=headers)
            assert response.status_code == 200, response.text
            assert CANARY not in response.text
            assert "hunter2" not in response.text
            openai = {p["name"]: p for p in response.json()["providers"]}["openai"]
            assert (openai["configured"], openai["has_credentials"]) == (True, True)
            assert openai["base_url"] == "http://127.0.0.1:9/v1"
