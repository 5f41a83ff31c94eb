"""The providers the app reports, from the shared contract; the caller is a signed-in user."""

from __future__ import annotations

from genai_shared.testing.contracts.providers import ProvidersContract
from secure_chat_api.core.config import Settings
from secure_chat_api.core.database import Base


class TestProviders(ProvidersContract):
    settings_class = Settings
    metadata = Base.metadata
