"""App-level behaviour, from the shared contracts, and the security schemes of OpenAPI."""

from __future__ import annotations

from genai_shared.testing.contracts.app import AppContract
from production_deployment.core.config import Settings, get_settings


class TestApp(AppContract):
    method_not_allowed_path = "/api/v1/users/me"
    documented_404_path = "/api/v1/conversations/{conversation_id}"
    settings_class = Settings
    get_settings = get_settings
    production_settings = {
        "database_url": "postgresql+asyncpg://app@db:5432/app",
        "redis_url": "redis://redis:6379/0",
        "metrics_token": "scrape-token-0123456789",
    }

    async def test_openapi_documents_the_security_schemes(self, client):
        spec = (await client.get("/openapi.json")).json()
        schemes = spec["components"]["securitySchemes"]
        assert (
            schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/login"
        )
        assert schemes["APIKeyHeader"]["name"] == "X-API-Key"
