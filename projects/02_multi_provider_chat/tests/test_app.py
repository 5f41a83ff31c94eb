"""App-level behaviour, from the shared contract."""

from __future__ import annotations

from genai_shared.testing.contracts.app import AppContract
from multi_provider_chat.core.config import Settings, get_settings


class TestApp(AppContract):
    method_not_allowed_path = "/api/v1/users"
    documented_404_path = "/api/v1/users/{user_id}"
    settings_class = Settings
    get_settings = get_settings
